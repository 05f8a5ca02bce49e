"""health: 0 healthy, 1 degraded, 2 down, with the reasons (the model in nautilusd.health).

Wire: {"cmd": "health", "args": {}, "id": 1}
      -> {"ok": true, "result": {"status": "degraded", "code": 1, "engines": 7, "ready": 6,
          "not_ready": ["execution"], "fatal": [], "critical_fatal": [], "reasons":
          [{"engine": "execution", "state": "STOPPED", "group": "critical", "critical": true}]},
          "id": 1}
      the same document as GET /health and `status --json`'s "health".
CLI:  nautilusctl health [--json]     (exit code = result.code; no daemon -> 2)
      e.g. `nautilusctl health || journalctl -u nautilusd -n 50`
"""

from __future__ import annotations

import argparse
from typing import Any

from nautilusd.control.commands import _args
from nautilusd.control.commands.context import CommandContext, TopologyT
from nautilusd.control.commands.spec import HEALTH_DOWN, Command, Remote

NAME = "health"


def run(ctx: CommandContext[TopologyT], args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args)
    _, doc = ctx.supervisor.health()
    return doc


def reason_text(reason: Any) -> str:
    """`execution STOPPED (critical group 'critical')` from one entry of "reasons"."""
    if not isinstance(reason, dict):
        return str(reason)
    kind = "critical group" if reason.get("critical") else "group"
    return f"{reason.get('engine')} {reason.get('state')} ({kind} {reason.get('group')!r})"


def render(args: argparse.Namespace, result: Any) -> str:
    reasons = [reason_text(r) for r in result.get("reasons") or []]
    return "; ".join([str(result.get("status", "unknown")), *reasons])


def exit_code(result: Any) -> int:
    return int(result["code"])


COMMAND = Command(name=NAME, run=run, read_only=True, cli=Remote(
    help="exit 0 healthy, 1 degraded, 2 down, with the reasons", render=render,
    exit_code=exit_code, unreachable_exit=HEALTH_DOWN))
