"""`nautilusctl bench backtest`: replay throughput and the sweep's parallel speedup.

Throughput: the backtest pipeline (marketdata -> features + factors -> strategy -> risk ->
execution, on recorded time) over N recorded ticks of 4 symbols, timed around each whole
run, median of several runs (target >= 1M ticks/s), with the shipped mean-reversion strategy
(backtest_ticks_per_s) and the research strategy on the same bars' features and factors
(backtest_research_ticks_per_s), alternated round by round. Sweep: the same 4-run grid through
`nautilusctl backtest`'s runner with 1 worker and with 2, alternated in pairs so both see
the same host load; the speedup is the median of the paired ratios (target >= 1.7x on 2
cores). Span: the same ticks over an hour and over 30 days of recorded time (bars scaled to
the same count): the paired run-time ratio should be ~1 (nothing waits for recorded time).
Every run's tick count is checked; a run that fails or loses ticks fails the suite.

  nautilusctl bench backtest [--quick] [--json]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from engines.backtest import load, parse_sweep, run, save_ticks
from engines.backtest.cli import run_grid, synthetic_ticks
from nautilusd.bench.report import emit

SYMBOLS = ("AAPL", "MSFT", "ESZ6", "EURUSD")
TARGET_TICKS_PER_S = 1_000_000.0
TARGET_SPEEDUP = 1.7


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nautilusctl bench backtest", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer ticks and rounds")
    p.add_argument("--json", action="store_true")
    return p


def _throughput(n: int, rounds: int) -> dict[str, tuple[list[float], int]]:
    """Ticks per second of each whole run over n ticks recorded at 2,000 ticks/s, for the
    shipped strategy and the research one on the same bars, alternated round by round."""
    ticks = synthetic_ticks(n, len(SYMBOLS), n / 2_000.0)
    cfgs = {"mean_reversion": load(None, SYMBOLS, []),
            "research": load(None, SYMBOLS, [("backtest", "strategy", "research")])}
    out: dict[str, tuple[list[float], int]] = {k: ([], 0) for k in cfgs}
    for cfg in cfgs.values():
        run(ticks[:50_000], cfg)  # warm-up (first calls, caches)
    for r in range(rounds):
        for name in (tuple(cfgs) if r % 2 == 0 else tuple(reversed(cfgs))):
            started = time.perf_counter()
            res = run(ticks, cfgs[name])
            elapsed = time.perf_counter() - started
            if res.ticks != n:
                raise RuntimeError(f"the {name} pipeline took {res.ticks} of {n} ticks")
            if res.fills.shape[0] == 0:
                raise RuntimeError(f"the {name} pipeline filled nothing over {n} ticks")
            out[name][0].append(n / elapsed)
            out[name] = (out[name][0], int(res.fills.shape[0]))
    return out


def _sweep(work: Path, n: int, rounds: int) -> tuple[list[float], list[float]]:
    """Paired wall times of the 4-run grid with 1 worker and with 2."""
    data = work / "ticks.parquet"
    save_ticks(synthetic_ticks(n, len(SYMBOLS), n / 2_000.0), SYMBOLS, data)
    grid = parse_sweep(["strategy.threshold_bps=1,2,3,4"])
    times: dict[int, list[float]] = {1: [], 2: []}
    for r in range(rounds):
        for workers in ((1, 2) if r % 2 == 0 else (2, 1)):
            out = work / f"sweep-{r}-{workers}"
            started = time.perf_counter()
            results = run_grid(data, None, grid, out, workers)
            times[workers].append(time.perf_counter() - started)
            if [x["ticks"] for x in results] != [n] * len(grid):
                raise RuntimeError(f"a sweep run lost ticks: {[x['ticks'] for x in results]}")
            shutil.rmtree(out)
    return times[1], times[2]


def _span(n: int, rounds: int) -> list[float]:
    """Paired run-time ratios: 30 days of recorded time over one hour, same ticks and bars."""
    ratios = []
    short = synthetic_ticks(n, len(SYMBOLS), 3_600.0)
    long = synthetic_ticks(n, len(SYMBOLS), 30 * 86_400.0)
    cfg_short = load(None, SYMBOLS, [("features", "bar_ms", 1_000)])
    cfg_long = load(None, SYMBOLS, [("features", "bar_ms", 720_000)])
    for _ in range(rounds):
        t0 = time.perf_counter()
        run(short, cfg_short)
        t1 = time.perf_counter()
        run(long, cfg_long)
        t2 = time.perf_counter()
        ratios.append((t2 - t1) / (t1 - t0))
    return ratios


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    n, rounds, sweep_n, sweep_rounds = ((1_000_000, 3, 500_000, 5) if args.quick
                                        else (4_000_000, 5, 2_000_000, 7))
    work = Path(tempfile.mkdtemp(prefix="nd-bench-backtest-", dir="/tmp"))
    results: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"backtest_ticks_per_s": None,
                               "backtest_research_ticks_per_s": None,
                               "backtest_sweep_speedup": None, "backtest_span_ratio": None}
    try:
        for name, (rates, fills) in _throughput(n, rounds).items():
            key = "backtest_ticks_per_s" if name == "mean_reversion" else \
                f"backtest_{name}_ticks_per_s"
            summary[key] = round(statistics.median(rates))
            results.append({"measure": "throughput", "strategy": name, "ticks": n,
                            "rounds": rounds, "fills": fills,
                            "ticks_per_s_p50": round(statistics.median(rates)),
                            "ticks_per_s_min": round(min(rates))})
        one, two = _sweep(work, sweep_n, sweep_rounds)
        paired = [a / b for a, b in zip(one, two, strict=True)]
        summary["backtest_sweep_speedup"] = round(statistics.median(paired), 3)
        results.append({"measure": "sweep", "runs": 4, "ticks_per_run": sweep_n,
                        "one_worker_s_p50": round(statistics.median(one), 3),
                        "two_workers_s_p50": round(statistics.median(two), 3),
                        "cores": len(os.sched_getaffinity(0))})
        span = _span(n // 4, rounds)
        summary["backtest_span_ratio"] = round(statistics.median(span), 3)
        results.append({"measure": "span", "ticks": n // 4, "spans": "1 h vs 30 days",
                        "ratio_p50": round(statistics.median(span), 3)})
    except Exception as exc:  # a failed peer is an error row, never a silent null
        results.append({"measure": "error", "transport": "backtest", "error": repr(exc)})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary["target_ticks_per_s"] = TARGET_TICKS_PER_S
    summary["target_sweep_speedup"] = TARGET_SPEEDUP
    summary["load_avg_1m"] = round(os.getloadavg()[0], 2)
    return emit("backtest", results, summary, args.json)


if __name__ == "__main__":
    sys.exit(main())
