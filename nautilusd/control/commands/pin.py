"""pin: move a running engine instance to other cores, live; the new affinity is verified.

Wire: {"cmd": "pin", "args": {"engine": "risk", "cpus": [1]}, "id": 1}
      -> {"ok": true, "result": {"engine": "risk", "cpus": [1]}, "id": 1}
CLI:  nautilusctl pin ENGINE CPUS [--json]      (CPUS: "1", "0,1" or "0-3")
"""

from __future__ import annotations

import argparse
from typing import Any

from nautilusd.control.commands import _args, text
from nautilusd.control.commands.context import CommandContext, TopologyT
from nautilusd.control.commands.spec import Command, Permission, Remote, UsageError

NAME = "pin"


def run(ctx: CommandContext[TopologyT], args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args, ("engine", "cpus"))
    engine = _args.string(NAME, args, "engine")
    cpus = _args.cpu_list(NAME, args, "cpus")
    return {"engine": engine, "cpus": list(ctx.supervisor.pin(engine, cpus))}


def parse_cpus(cpus_text: str) -> list[int]:
    """"0-2,5" -> [0, 1, 2, 5]; raises UsageError (a ValueError) naming the bad part."""
    cpus: set[int] = set()
    for part in cpus_text.split(","):
        low, _, high = part.strip().partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise UsageError(f"bad core list {cpus_text!r}: {part!r} is not N or N-M")
        cpus.update(range(int(low), int(high or low) + 1))
    return sorted(cpus)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("engine")
    parser.add_argument("cpus", help='"1", "0,2" or "0-3"')


def request(args: argparse.Namespace) -> dict[str, Any]:
    return {"engine": args.engine, "cpus": parse_cpus(args.cpus)}


def render(args: argparse.Namespace, result: Any) -> str:
    return f"{result['engine']} pinned to cpus {text.cpus_text(result['cpus'])}"


COMMAND = Command(name=NAME, run=run, permission=Permission.OPERATE, cli=Remote(
    help="move an engine to other cores, live", arguments=arguments, request=request,
    render=render))
