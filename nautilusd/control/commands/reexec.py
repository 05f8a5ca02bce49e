"""reexec: nautilusd executes its own, possibly new, code in place (same pid), keeping the
forkserver, every engine, the rings, the status table and the control and bus sockets.

The reply goes out first; the exec runs on the next loop turn (nautilusd.reexec). Refused,
naming why, while engines start, stop or back off, or when the config on disk differs from
the running topology.
Wire: {"cmd": "reexec", "args": {}, "id": 1}
      -> {"ok": true, "result": {"reexecuting": true, "pid": 4242, "reexecs": 1}}
CLI:  nautilusctl reexec [--json]
"""

from __future__ import annotations

import argparse
from typing import Any

from nautilusd.control.commands import _args
from nautilusd.control.commands.context import CommandContext, TopologyT
from nautilusd.control.commands.spec import Command, Remote

NAME = "reexec"


def run(ctx: CommandContext[TopologyT], args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args)
    return ctx.supervisor.reexec()


def render(args: argparse.Namespace, result: Any) -> str:
    return (f"nautilusd (pid {result.get('pid')}) is re-executing itself "
            f"(re-execution {result.get('reexecs')}); engines keep running")


COMMAND = Command(name=NAME, run=run, cli=Remote(
    help="re-execute nautilusd in place (same pid), engines untouched", render=render))
