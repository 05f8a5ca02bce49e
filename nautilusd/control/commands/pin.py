"""pin: move a running engine instance to other cores, live; the new affinity is verified.

Wire: {"cmd": "pin", "args": {"engine": "risk", "cpus": [1]}, "id": 1}
      -> {"ok": true, "result": {"engine": "risk", "cpus": [1]}, "id": 1}
CLI:  nautilusctl pin ENGINE CPUS [--json]      (CPUS: "1", "0,1" or "0-3")
"""

from __future__ import annotations

from typing import Any

from nautilusd.control.commands import _args
from nautilusd.control.commands.context import CommandContext

NAME = "pin"


def run(ctx: CommandContext, args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args, ("engine", "cpus"))
    engine = _args.string(NAME, args, "engine")
    cpus = _args.cpu_list(NAME, args, "cpus")
    return {"engine": engine, "cpus": list(ctx.supervisor.pin(engine, cpus))}
