"""The control commands: one module per command, gathered in an explicit dispatch table.

Each module has NAME and `run(ctx, args) -> result`; its docstring shows the wire message
and the nautilusctl usage. Adding a command = writing the module and listing it below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from nautilusd.control.commands import (
    health,
    info,
    pin,
    ping,
    reload,
    restart,
    rings,
    scale,
    shutdown,
    start,
    status,
    stop,
)
from nautilusd.control.commands.context import CommandContext

Command = Callable[[CommandContext, dict[str, Any]], Any]

_MODULES = (ping, info, status, start, stop, restart, reload, scale, pin, rings, health,
            shutdown)

COMMANDS: Mapping[str, Command] = MappingProxyType({m.NAME: m.run for m in _MODULES})

__all__ = ["COMMANDS", "Command", "CommandContext"]
