"""rings: per ring its writer, readers, cursors, lag, fill, overruns, back-pressure and rate.

Wire: {"cmd": "rings", "args": {}, "id": 1}
      -> {"ok": true, "result": {"rings": [{"name": "ticks", "capacity": 4096, "policy":
          "overwrite", "cursor": 812, "fill": 0.01, "rate_per_s": 950.0, "readers": [...]}]}}
CLI:  nautilusctl rings [--json]
"""

from __future__ import annotations

from typing import Any

from nautilusd.control.commands import _args
from nautilusd.control.commands.context import CommandContext

NAME = "rings"


def run(ctx: CommandContext, args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args)
    rings = [dict(ring) for ring in ctx.supervisor.status().get("rings", [])]
    now = ctx.loop.now()
    last: dict[str, tuple[float, int]] = ctx.memo.setdefault(NAME, {})
    configured = getattr(getattr(ctx.supervisor, "topology", None), "rings", {}) or {}
    for ring in rings:
        _config_name(ring, configured)
        _derive(ring, now, last)
        _name_engines(ring, configured.get(ring.get("name")))
    return {"rings": rings}


def _config_name(ring: dict[str, Any], configured: Any) -> None:
    """Show the ring's config name; a segment name (`<prefix>ring.<name>`) moves to `segment`."""
    name = str(ring.get("name", ""))
    if name in configured:
        return
    for key in configured:
        if name.endswith(f".ring.{key}"):
            ring["segment"], ring["name"] = name, key
            return


def _name_engines(ring: dict[str, Any], config: Any) -> None:
    """Put the configured writer and reader engine names next to the pids and slot indexes."""
    if config is None:
        return
    ring.setdefault("writer", config.writer)
    for reader in ring.get("readers", []):
        index = reader.get("index")
        if isinstance(index, int) and 0 <= index < len(config.readers):
            reader.setdefault("name", config.readers[index])


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
