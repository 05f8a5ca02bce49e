"""restart: restart an engine instance, every instance of an engine, a group, or "all".

Wire: {"cmd": "restart", "args": {"target": "risk"}, "id": 1}
      -> {"ok": true, "result": {"affected": ["risk"]}, "id": 1}
CLI:  nautilusctl restart ENGINE|GROUP|all [--json]     (prints "restarted: risk")
"""

from __future__ import annotations

import argparse
from typing import Any

from nautilusd.control.commands import _args
from nautilusd.control.commands.context import CommandContext, TopologyT
from nautilusd.control.commands.spec import Command, Permission, Remote

NAME = "restart"


def run(ctx: CommandContext[TopologyT], args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args, ("target",))
    target = _args.target(NAME, args)
    return {"affected": list(ctx.supervisor.restart(target))}


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="an engine, an instance, a group or all")


def request(args: argparse.Namespace) -> dict[str, Any]:
    return {"target": args.target}


def render(args: argparse.Namespace, result: Any) -> str:
    return f"restarted: {', '.join(result['affected']) or 'nothing'}"


COMMAND = Command(name=NAME, run=run, permission=Permission.OPERATE, cli=Remote(
    help="restart an engine, a group or all", arguments=arguments, request=request,
    render=render))
