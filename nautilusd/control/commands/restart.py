"""restart: restart an engine instance, every instance of an engine, a group, or "all".

Wire: {"cmd": "restart", "args": {"target": "risk"}, "id": 1}
      -> {"ok": true, "result": {"affected": ["risk"]}, "id": 1}
CLI:  nautilusctl restart ENGINE|GROUP|all [--json]
"""

from __future__ import annotations

from typing import Any

from nautilusd.control.commands import _args
from nautilusd.control.commands.context import CommandContext

NAME = "restart"


def run(ctx: CommandContext, args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args, ("target",))
    target = _args.target(NAME, args)
    return {"affected": list(ctx.supervisor.restart(target))}
