"""start: start an engine instance, every instance of an engine, a group, or "all".

Wire: {"cmd": "start", "args": {"target": "risk"}, "id": 1}
      -> {"ok": true, "result": {"affected": ["risk"]}, "id": 1}
CLI:  nautilusctl start ENGINE|GROUP|all [--json]     (prints "started: risk")
"""

from __future__ import annotations

import argparse
from typing import Any

from nautilusd.control.commands import _args
from nautilusd.control.commands.context import CommandContext, TopologyT
from nautilusd.control.commands.spec import Command, Permission, Remote

NAME = "start"


def run(ctx: CommandContext[TopologyT], args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args, ("target",))
    target = _args.target(NAME, args)
    return {"affected": list(ctx.supervisor.start(target))}


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="an engine, an instance, a group or all")


def request(args: argparse.Namespace) -> dict[str, Any]:
    return {"target": args.target}


def render(args: argparse.Namespace, result: Any) -> str:
    return f"started: {', '.join(result['affected']) or 'nothing'}"


COMMAND = Command(name=NAME, run=run, permission=Permission.OPERATE, cli=Remote(
    help="start an engine, a group or all", arguments=arguments, request=request,
    render=render))
