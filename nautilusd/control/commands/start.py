"""start: start an engine instance, every instance of an engine, a group, or "all".

Wire: {"cmd": "start", "args": {"target": "risk"}, "id": 1}
      -> {"ok": true, "result": {"affected": ["risk"]}, "id": 1}
CLI:  nautilusctl start ENGINE|GROUP|all [--json]
"""

from __future__ import annotations

from typing import Any

from nautilusd.control.commands import _args
from nautilusd.control.commands.context import CommandContext

NAME = "start"


def run(ctx: CommandContext, args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args, ("target",))
    target = _args.target(NAME, args)
    return {"affected": list(ctx.supervisor.start(target))}
