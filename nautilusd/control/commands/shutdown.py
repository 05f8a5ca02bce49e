"""shutdown: stop every engine in reverse order and exit nautilusd.

The reply goes out first; the supervisor's shutdown runs on the next loop turn.
Wire: {"cmd": "shutdown", "args": {}, "id": 1} -> {"ok": true, "result": {"stopping": true}}
CLI:  nautilusctl shutdown [--json]
"""

from __future__ import annotations

from typing import Any

from nautilusd.control.commands import _args
from nautilusd.control.commands.context import CommandContext

NAME = "shutdown"


def run(ctx: CommandContext, args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args)
    ctx.loop.call_later(0.0, ctx.supervisor.shutdown)
    return {"stopping": True}
