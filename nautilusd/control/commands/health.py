"""health: 0 healthy, 1 degraded, 2 down, with the reasons.

Wire: {"cmd": "health", "args": {}, "id": 1}
      -> {"ok": true, "result": {"code": 1, "status": "degraded", "detail": {...}}, "id": 1}
CLI:  nautilusctl health [--json]     (exit code = result.code; no daemon -> 2)
"""

from __future__ import annotations

from typing import Any

from nautilusd.control.commands import _args
from nautilusd.control.commands.context import CommandContext

NAME = "health"
WORDS = {0: "healthy", 1: "degraded", 2: "down"}


def run(ctx: CommandContext, args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args)
    code, detail = ctx.supervisor.health()
    return {"code": int(code), "status": WORDS.get(int(code), "unknown"), "detail": detail}
