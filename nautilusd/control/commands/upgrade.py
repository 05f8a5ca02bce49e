"""upgrade (wire): start a rolling upgrade of new engine code (nautilusd.upgrade); its
progress is in status (daemon.upgrade). nautilusctl's `upgrade` waits for it to end.

Wire: {"cmd": "upgrade", "args": {"target": "all", "dry_run": false}, "id": 1}
      -> {"ok": true, "result": {"targets": ["journal", ...], "versions": {...},
          "dry_run": false, "generation": 1, "old_generation": 0}}
"""

from __future__ import annotations

from typing import Any

from nautilusd.control.commands import _args
from nautilusd.control.commands.context import CommandContext, TopologyT
from nautilusd.control.commands.spec import Command

NAME = "upgrade"


def run(ctx: CommandContext[TopologyT], args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args, ("target", "dry_run"))
    dry_run = args.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise _args.bad_args(NAME, f"'dry_run' must be true or false, got {dry_run!r}")
    return ctx.supervisor.upgrade(_args.target(NAME, {"target": args.get("target", "all")}),
                                  dry_run)


COMMAND = Command(name=NAME, run=run)
