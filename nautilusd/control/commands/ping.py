"""ping: check that the daemon answers (used by nautilusctl before anything slow).

Wire: {"cmd": "ping", "args": {}, "id": 1} -> {"ok": true, "result": {"pid": 1234}, "id": 1}
CLI:  (implicit; no subcommand)
"""

from __future__ import annotations

import os
from typing import Any

from nautilusd.control.commands import _args
from nautilusd.control.commands.context import CommandContext, TopologyT
from nautilusd.control.commands.spec import Command

NAME = "ping"


def run(ctx: CommandContext[TopologyT], args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args)
    return {"pid": os.getpid()}


COMMAND = Command(name=NAME, run=run, read_only=True)
