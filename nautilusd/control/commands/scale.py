"""scale: run N replicas of an engine (instances `name-0` .. `name-(N-1)`).

Wire: {"cmd": "scale", "args": {"engine": "strategy", "n": 3}, "id": 1}
      -> {"ok": true, "result": {"instances": ["strategy-0", "strategy-1", "strategy-2"]}}
CLI:  nautilusctl scale ENGINE N [--json]
"""

from __future__ import annotations

import argparse
from typing import Any

from nautilusd.control.commands import _args
from nautilusd.control.commands.context import CommandContext, TopologyT
from nautilusd.control.commands.spec import Command, Permission, Remote

NAME = "scale"
MAX_REPLICAS = 256


def run(ctx: CommandContext[TopologyT], args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args, ("engine", "n"))
    engine = _args.string(NAME, args, "engine")
    n = _args.integer(NAME, args, "n", 0, MAX_REPLICAS)
    return {"instances": list(ctx.supervisor.scale(engine, n))}


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("engine")
    parser.add_argument("n", type=int)


def request(args: argparse.Namespace) -> dict[str, Any]:
    return {"engine": args.engine, "n": args.n}


def render(args: argparse.Namespace, result: Any) -> str:
    return f"{args.engine}: {', '.join(result['instances']) or '-'}"


COMMAND = Command(name=NAME, run=run, permission=Permission.OPERATE, cli=Remote(
    help="run N replicas of an engine", arguments=arguments, request=request, render=render))
