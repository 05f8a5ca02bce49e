"""nautilusctl's commands: the daemon's (from nautilusd.control.commands) and the client-only.

A client-only command is one module here ending with `COMMAND = Local(...)`, listed once
below; a daemon command is listed in nautilusd.control.commands. CLI, built from both, is
what the parser, --help and nautilusctl's dispatch are made of.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from nautilusd.control.commands import REGISTRY as DAEMON_REGISTRY
from nautilusd.control.commands import Remote
from nautilusd.ctl.commands import (
    backtest,
    bench,
    call,
    chaos,
    check,
    completion,
    events,
    fleet,
    journal,
    keys,
    logs,
    orders,
    research,
    top,
    upgrade,
)
from nautilusd.ctl.local import Local

CLIENT_REGISTRY: tuple[Local, ...] = tuple(m.COMMAND for m in (
    logs, top, events, check, call, orders, bench, chaos, journal, backtest, keys, fleet, research,
    upgrade, completion))

# Every nautilusctl subcommand in --help order: the daemon's first, then the client-only.
CLI: Mapping[str, Remote | Local] = MappingProxyType({
    **{c.name: c.cli for c in DAEMON_REGISTRY if c.cli is not None},
    **{c.name: c for c in CLIENT_REGISTRY},
})

__all__ = ["CLI", "CLIENT_REGISTRY", "Local", "Remote"]
