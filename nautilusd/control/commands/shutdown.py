"""shutdown: stop every engine in reverse order and exit nautilusd.

The reply goes out first; the supervisor's shutdown runs on the next loop turn.
Wire: {"cmd": "shutdown", "args": {}, "id": 1} -> {"ok": true, "result": {"stopping": true}}
CLI:  nautilusctl shutdown [--json]
"""

from __future__ import annotations

import argparse
from typing import Any

from nautilusd.control.commands import _args
from nautilusd.control.commands.context import CommandContext, TopologyT
from nautilusd.control.commands.spec import Command, Remote

NAME = "shutdown"


def run(ctx: CommandContext[TopologyT], args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args)
    ctx.loop.call_later(0.0, ctx.supervisor.shutdown)
    return {"stopping": True}


def render(args: argparse.Namespace, result: Any) -> str:
    return "nautilusd is shutting down"


COMMAND = Command(name=NAME, run=run, cli=Remote(
    help="stop every engine and exit nautilusd", render=render))
