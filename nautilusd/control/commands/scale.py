"""scale: run N replicas of an engine (instances `name-0` .. `name-(N-1)`).

Wire: {"cmd": "scale", "args": {"engine": "strategy", "n": 3}, "id": 1}
      -> {"ok": true, "result": {"instances": ["strategy-0", "strategy-1", "strategy-2"]}}
CLI:  nautilusctl scale ENGINE N [--json]
"""

from __future__ import annotations

from typing import Any

from nautilusd.control.commands import _args
from nautilusd.control.commands.context import CommandContext

NAME = "scale"
MAX_REPLICAS = 256


def run(ctx: CommandContext, args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args, ("engine", "n"))
    engine = _args.string(NAME, args, "engine")
    n = _args.integer(NAME, args, "n", 0, MAX_REPLICAS)
    return {"instances": list(ctx.supervisor.scale(engine, n))}
