"""info: where this daemon keeps its sockets (nautilusctl events and logs use it).

Wire: {"cmd": "info", "args": {}, "id": 1}
      -> {"ok": true, "result": {"pid": 1234, "runtime_dir": "/run/nautilusd/default",
          "control": "ipc://...", "bus_pub": "ipc://...", "bus_sub": "ipc://...",
          "control_stats": {...}}, "id": 1}
CLI:  (used by `nautilusctl events`)
"""

from __future__ import annotations

import os
from typing import Any

from nautilusd.control.commands import _args
from nautilusd.control.commands.context import CommandContext

NAME = "info"


def run(ctx: CommandContext, args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args)
    stats = ctx.server_stats() if ctx.server_stats else {}
    return {"pid": os.getpid(), "runtime_dir": str(ctx.runtime_dir or ""),
            **ctx.endpoints, "control_stats": stats}
