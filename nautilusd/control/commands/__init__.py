"""The daemon's control commands: one module per command, gathered in one registry.

Each module holds NAME, `run(ctx, args)` (the daemon's handler), its nautilusctl arguments,
request and rendering, and ends with `COMMAND = Command(...)`; its docstring shows the wire
message and the CLI usage. Adding a command = writing the module and listing it below once:
the daemon's dispatch table, the nautilusctl parser and its --help are built from REGISTRY.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from nautilusd.control.commands import (
    fleet,
    health,
    info,
    pin,
    ping,
    reexec,
    reload,
    restart,
    rings,
    scale,
    shutdown,
    start,
    status,
    stop,
    upgrade,
)
from nautilusd.control.commands.context import CommandContext
from nautilusd.control.commands.spec import Command, Handler, Remote, UsageError

# In nautilusctl --help order; ping and info have no subcommand.
REGISTRY: tuple[Command, ...] = tuple(m.COMMAND for m in (
    ping, info, fleet, status, start, stop, restart, reload, scale, pin, rings, health,
    reexec, shutdown, upgrade))

COMMANDS: Mapping[str, Command] = MappingProxyType({c.name: c for c in REGISTRY})

__all__ = ["COMMANDS", "REGISTRY", "Command", "CommandContext", "Handler", "Remote",
           "UsageError"]
