"""fleet: this host's place in a fleet: its name, control endpoint, peers, and what the
CURVE control endpoint admitted, refused (unknown keys) and denied (commands a peer's `allow`
does not grant). nautilusctl --host and fleet status use it.

Wire: {"cmd": "fleet", "args": {}, "id": 1}
      -> {"ok": true, "result": {"host": "a", "control_endpoint": "tcp://10.0.0.1:7100",
          "state_dir": "/var/lib/nautilusd/default", "peers": [{"name": "b", "address":
          "10.0.0.2", "control_port": 7100, "public_key": "...", "allow": ["read"]}],
          "control": {"accepted": 1, "refused": 0, "denied": 0}}, "id": 1}
CLI:  (used by `nautilusctl --host NAME ...` and `nautilusctl fleet status`)
"""

from __future__ import annotations

from typing import Any

from nautilusd import fleetstats
from nautilusd.control.commands import _args
from nautilusd.control.commands.context import CommandContext, TopologyT
from nautilusd.control.commands.spec import Command

NAME = "fleet"


def run(ctx: CommandContext[TopologyT], args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args)
    topology: Any = ctx.supervisor.topology
    fleet = getattr(topology, "fleet", None)  # a topology view without fleet: a lone host
    return {
        "host": getattr(fleet, "host", ""),
        "control_endpoint": getattr(fleet, "control_endpoint", None),
        "state_dir": ctx.endpoints.get("state_dir", ""),
        "peers": [{"name": p.name, "address": p.address, "control_port": p.control_port,
                   "public_key": p.public_key, "allow": list(p.allow)}
                  for p in getattr(topology, "peers", {}).values()],
        "control": dict(fleetstats.CONTROL),
    }


COMMAND = Command(name=NAME, run=run, read_only=True)
