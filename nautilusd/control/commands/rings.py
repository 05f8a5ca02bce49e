"""rings: per ring its writer, readers, cursors, lag, fill, overruns, back-pressure and rate.

Wire: {"cmd": "rings", "args": {}, "id": 1}
      -> {"ok": true, "result": {"rings": [{"name": "ticks", "capacity": 4096, "policy":
          "overwrite", "cursor": 812, "fill": 0.01, "rate_per_s": 950.0, "rate_window_s": 0.5,
          "readers": [...]}]}}
      The daemon keeps each ring's previous cursor reading: rate_per_s is the published
      records per second since that reading, over rate_window_s (null: no reading before).
CLI:  nautilusctl rings [--json]   (asks a second time after 0.5 s when a rate is missing or
      spans more than FRESH_WINDOW_S, so that RATE/S is the current rate)
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from nautilusd.control.commands import _args, text
from nautilusd.control.commands.context import CommandContext, RingEnds, TopologyT
from nautilusd.control.commands.spec import Command, Remote

NAME = "rings"
RING_COLUMNS = ("RING", "POLICY", "WRITER", "CAPACITY", "CURSOR", "FILL", "RATE/S",
                "OVERRUNS", "BP WAITS", "BOARD")
FRESH_WINDOW_S = 5.0
READER_COLUMNS = ("RING", "READER", "PID", "CURSOR", "LAG", "LOST", "PARKED", "ACTIVE")


def run(ctx: CommandContext[TopologyT], args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args)
    rings = [dict(ring) for ring in ctx.supervisor.status().get("rings", [])]
    now = ctx.loop.now()
    last: dict[str, tuple[float, int]] = ctx.memo.setdefault(NAME, {})
    configured = ctx.supervisor.topology.rings
    for ring in rings:
        _config_name(ring, configured)
        _derive(ring, now, last)
        _name_engines(ring, configured.get(ring.get("name", "")))
    return {"rings": rings}


def _config_name(ring: dict[str, Any], configured: Mapping[str, RingEnds]) -> None:
    """Show the ring's config name; a segment name (`<prefix>ring.<name>`) moves to `segment`."""
    name = str(ring.get("name", ""))
    if name in configured:
        return
    for key in configured:
        if name.endswith(f".ring.{key}"):
            ring["segment"], ring["name"] = name, key
            return


def _name_engines(ring: dict[str, Any], config: RingEnds | None) -> None:
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
    rate = window_s = None
    if seen is not None and now > seen[0] and total >= seen[1]:
        window_s = now - seen[0]
        rate = round((total - seen[1]) / window_s, 1)
    ring["rate_per_s"] = rate
    ring["rate_window_s"] = None if window_s is None else round(window_s, 6)
    last[name] = (now, total)


def needs_second_reading(result: Any) -> bool:
    """A rate needs two readings of the cursor: true when some ring has none yet, or only
    one older than FRESH_WINDOW_S (an average since then says little about now)."""
    return any(ring.get("rate_per_s") is None or (ring.get("rate_window_s") or 0) > FRESH_WINDOW_S
               for ring in result.get("rings", []))


def ring_rows(rings: list[dict[str, Any]]) -> tuple[list[list[Any]], list[list[Any]]]:
    """The rows of the ring table and of the reader table."""
    main, readers = [], []
    for r in rings:
        rate = r.get("rate_per_s")
        main.append([r.get("name"), r.get("policy"), r.get("writer", r.get("writer_pid", "-")),
                     r.get("capacity"), r.get("cursor"), f"{100 * (r.get('fill') or 0):.1f}%",
                     "-" if rate is None else f"{rate:,.0f}", r.get("overruns", 0),
                     r.get("backpressure_waits", 0), r.get("latest_slots") or "-"])
        for rd in r.get("readers", []):
            if "name" not in rd and not rd.get("active", True):
                continue  # a spare slot no configured reader uses
            readers.append([r.get("name"), rd.get("name", rd.get("index")), rd.get("pid") or "-",
                            rd.get("cursor"), rd.get("lag"), rd.get("lost"),
                            "yes" if rd.get("parked") else "no",
                            "yes" if rd.get("active", True) else "no"])
    return main, readers


def rings_text(rings: list[dict[str, Any]]) -> str:
    if not rings:
        return "no rings"
    main, readers = ring_rows(rings)
    return text.table(RING_COLUMNS, main) + "\n\n" + text.table(READER_COLUMNS, readers)


def render(args: argparse.Namespace, result: Any) -> str:
    return rings_text(result["rings"])


COMMAND = Command(name=NAME, run=run, read_only=True, cli=Remote(
    help="ring cursors, lag, fill, overruns, rates", render=render,
    second_reading=needs_second_reading))
