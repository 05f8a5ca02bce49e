"""health: 0 healthy, 1 degraded, 2 down, with the reasons.

Wire: {"cmd": "health", "args": {}, "id": 1}
      -> {"ok": true, "result": {"code": 1, "status": "degraded", "detail": {...}}, "id": 1}
CLI:  nautilusctl health [--json]     (exit code = result.code; no daemon -> 2)
"""

from __future__ import annotations

import argparse
from typing import Any

from nautilusd.control.commands import _args
from nautilusd.control.commands.context import CommandContext, TopologyT
from nautilusd.control.commands.spec import HEALTH_DOWN, Command, Remote

NAME = "health"
WORDS = {0: "healthy", 1: "degraded", 2: "down"}


def run(ctx: CommandContext[TopologyT], args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args)
    code, detail = ctx.supervisor.health()
    return {"code": int(code), "status": WORDS.get(int(code), "unknown"), "detail": detail}


def render(args: argparse.Namespace, result: Any) -> str:
    detail = result.get("detail") or {}
    problems = [f"{k}: {', '.join(map(str, v))}" for k, v in detail.items()
                if isinstance(v, list) and v]
    return "; ".join([result["status"], *problems])


def exit_code(result: Any) -> int:
    return int(result["code"])


COMMAND = Command(name=NAME, run=run, read_only=True, cli=Remote(
    help="exit 0 healthy, 1 degraded, 2 down", render=render, exit_code=exit_code,
    unreachable_exit=HEALTH_DOWN))
