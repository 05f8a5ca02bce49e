"""rings: per ring its writer, readers, cursors, lag, fill, overruns, back-pressure and rate.

Wire: {"cmd": "rings", "args": {}, "id": 1}
      -> {"ok": true, "result": {"rings": [{"name": "ticks", "capacity": 4096, "policy":
          "overwrite", "cursor": 812, "fill": 0.01, "rate_per_s": 950.0, "readers": [...]}]}}
CLI:  nautilusctl rings [--json]
"""

from __future__ import annotations

from typing import Any

from nautilusd.commands import _args
from nautilusd.commands.context import CommandContext

NAME = "rings"


def run(ctx: CommandContext, args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args)
    rings = [dict(ring) for ring in ctx.supervisor.status().get("rings", [])]
    now = ctx.loop.now()
    last: dict[str, tuple[float, int]] = ctx.memo.setdefault(NAME, {})
    for ring in rings:
        _derive(ring, now, last)
    return {"rings": rings}


def _derive(ring: dict[str, Any], now: float, last: dict[str, tuple[float, int]]) -> None:
    """Add fill (worst active reader's lag / capacity), overruns and the publish rate."""
    readers = [r for r in ring.get("readers", []) if r.get("active", True)]
    capacity = int(ring.get("capacity") or 0)
    worst_lag = max((int(r.get("lag", 0)) for r in readers), default=0)
    ring["fill"] = round(worst_lag / capacity, 4) if capacity else 0.0
    ring["overruns"] = sum(int(r.get("lost", 0)) for r in ring.get("readers", []))
    total = int(ring.get("published_total", ring.get("cursor", 0)) or 0)
    name = str(ring.get("name", ""))
    seen = last.get(name)
    rate = None
    if seen is not None and now > seen[0] and total >= seen[1]:
        rate = round((total - seen[1]) / (now - seen[0]), 1)
    ring["rate_per_s"] = rate
    last[name] = (now, total)
