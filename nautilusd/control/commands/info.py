"""info: where this daemon keeps its sockets, and which engine instances serve methods.

Wire: {"cmd": "info", "args": {}, "id": 1}
      -> {"ok": true, "result": {"pid": 1234, "runtime_dir": "/run/nautilusd/default",
          "control": "ipc://...", "bus_pub": "ipc://...", "bus_sub": "ipc://...",
          "services": {"risk": "ipc://.../svc-risk.sock"}, "control_stats": {...}}, "id": 1}
CLI:  (used by `nautilusctl events` and `nautilusctl call`)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nautilusd.control.commands import _args
from nautilusd.control.commands.context import CommandContext, TopologyT
from nautilusd.control.commands.spec import Command

NAME = "info"


def run(ctx: CommandContext[TopologyT], args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args)
    stats = ctx.server_stats() if ctx.server_stats else {}
    return {"pid": os.getpid(), "runtime_dir": str(ctx.runtime_dir or ""),
            **ctx.endpoints, "services": _services(ctx), "control_stats": stats}


def _services(ctx: CommandContext[TopologyT]) -> dict[str, str]:
    """Each engine instance whose service socket exists now, with its endpoint."""
    if ctx.service_endpoint is None:
        return {}
    found = {}
    for name in ctx.supervisor.instances:
        endpoint = ctx.service_endpoint(name)
        if not endpoint.startswith("ipc://") or Path(endpoint[len("ipc://"):]).exists():
            found[name] = endpoint
    return found


COMMAND = Command(name=NAME, run=run, read_only=True)
