"""`nautilusctl bench journal [--quick] [--json] [--dir DIR]`: what the journal costs.

Two measures in one run: the journal's sustained append rate (FILL-sized records, groups of
256, fsync = "batch": one fsync per group) with its fsync times; and tick-to-fill through
marketdata -> strategy -> risk -> execution over rings without and with a journal engine
reading orders, decisions and fills, in pairs ordered ABBA (without, with, with, without,
...: a drift of the host's load over the run hits both alike), each figure the median of
its runs; a row holds each pair's with / without, whose spread says how much of a difference
the host's noise allows. DIR (default: a temporary directory under /tmp) should be on the
disk the state directory will use: fsync costs what that disk costs.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from engines.journal import Fsync, SegmentWriter
from engines.statedir import StateDir
from nautilusd.bench import _pipeline_runs as runs
from nautilusd.bench._pipeline_rig import Tuning
from nautilusd.bench.pipeline import DEFAULT_CONFIG, default_tuning, ticks_latest
from nautilusd.bench.report import emit, percentiles
from shm.layout import FILL

GROUP = 256


def append_rate(directory: Path, duration_s: float) -> dict[str, Any]:
    """Records/s appended with fsync = "batch", and the fsync times (ms)."""
    state = StateDir.create(directory / "rate")
    writer = SegmentWriter(state, Fsync.BATCH)
    payload = memoryview(np.random.default_rng(1).bytes(FILL.itemsize * GROUP))
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < duration_s:
        writer.append_many(3, payload, FILL.itemsize)
        writer.commit()
        n += GROUP
    writer.close()
    fsync = percentiles(writer.fsync_ns, 1e-6)  # NaN, and so a failed suite, when none ran
    return {"records": n, "seconds": round(elapsed, 3), "records_per_s": round(n / elapsed),
            "fsyncs": writer.fsyncs, "fsync_p50_ms": fsync["p50"], "fsync_p99_ms": fsync["p99"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nautilusctl bench journal", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs (< 60 s in all)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--dir", type=Path, default=None, help="where the journal is written")
    parser.add_argument("--rate", type=float, default=1_000.0, help="ticks/s for the latency")
    args = parser.parse_args(argv)
    rate_s, latency_s, pairs = (3.0, 3.0, 4) if args.quick else (10.0, 8.0, 6)
    work = Path(tempfile.mkdtemp(prefix="nd-bench-journal-", dir=args.dir))
    try:
        rate = append_rate(work, rate_s)
        tuning = default_tuning(DEFAULT_CONFIG)
        # as configs/default.toml runs it: blocking, the library's spin, execution's core
        latest = ticks_latest(DEFAULT_CONFIG)
        journal_tuning = Tuning("blocking", cpus=tuning["execution"].cpus, nice=10)
        p50s: dict[str, list[float]] = {"without": [], "with": []}
        rows: list[dict[str, Any]] = [{"measure": "journal_append", "fsync": "batch",
                                       "group": GROUP, "dir": str(work), **rate}]
        order = [label for i in range(pairs)
                 for label in (("without", "with") if i % 2 == 0 else ("with", "without"))]
        for i, label in enumerate(order):
            lat = runs.ring_tick_to_fill(latency_s, args.rate, tuning, latest,
                                         journal=journal_tuning if label == "with" else None,
                                         state_dir=work / f"pipeline{i}")
            pct = percentiles(lat, 1e-3)
            p50s[label].append(pct["p50"])
            rows.append({"measure": "tick_to_fill_us", "journal": label == "with",
                         "run": i, "rate_per_s": args.rate, **pct})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    without, with_ = float(np.median(p50s["without"])), float(np.median(p50s["with"]))
    pair_ratios = [round(w / wo, 3) for w, wo in zip(p50s["with"], p50s["without"], strict=True)]
    summary = {"journal_records_per_s": rate["records_per_s"],
               "journal_fsync_p99_ms": rate["fsync_p99_ms"],
               "tick_to_fill_p50_us_with_journal": round(with_, 2),
               "tick_to_fill_p50_us_without_journal": round(without, 2),
               "with_over_without": round(with_ / without, 3) if without else None}
    rows.append({"measure": "tick_to_fill_p50_pair_ratios", "with_over_without": pair_ratios})
    return emit("journal", rows, summary, args.json)


if __name__ == "__main__":
    sys.exit(main())
