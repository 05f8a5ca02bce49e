"""`nautilusctl backtest`: the pipeline over a Parquet tick file, one run or a parallel sweep.

  python -m engines.backtest.cli --data TICKS.parquet [--config F.toml] --out DIR
      [--sweep SECTION.KEY=V1,V2,...]... [--models STATE_DIR] [--workers N] [--json]

A run writes DIR/fills.parquet, DIR/fills.bin (the FILL records' bytes: byte-compare two
runs), DIR/equity.parquet, DIR/summary.json and DIR/report.html. A sweep runs every
combination, one process per run, at most --workers at once (default: the cores this
process may use), each into DIR/run-NNN/, with DIR/sweep.parquet and one report for all.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from engines.backtest import _config, _data, _metrics, _report
from engines.backtest._pipeline import run
from engines.marketdata import GbmFeed, GbmParams
from engines.params import ParamError
from shm.layout import TICK


def synthetic_ticks(n: int, n_symbols: int, span_s: float, seed: int = 7) -> np.ndarray:
    """n GBM ticks spread evenly over `span_s` seconds of recorded time (tests, bench)."""
    ticks = np.zeros(n, TICK)
    feed = GbmFeed(n_symbols, GbmParams(seed=seed, rate_per_s=max(n / max(span_s, 1e-9), 1.0)))
    feed.fill(ticks, 0)
    start = 1_767_225_600_000_000_000  # 2026-01-01
    ticks["ts_ns"] = start + (np.arange(n, dtype=np.float64) * (span_s * 1e9 / n)).astype(
        np.int64)
    return ticks


def run_one(data: Path, config: Path | None, overrides: list[_config.Override],
            out: Path) -> dict[str, Any]:
    """One run into `out`; its summary (figures, config, wall time) is returned too."""
    _data.pyarrow_modules()  # imported before the clock starts: not the data's cost
    started = time.perf_counter()
    tick_file = _data.TickFile(data)
    cfg = _config.load(config, tick_file.symbols, overrides)
    ticks = tick_file.ticks(cfg.symbols)
    loaded = time.perf_counter()
    res = run(ticks, cfg)
    ran = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    (out / "fills.bin").write_bytes(_data.fills_bytes(res.fills))
    _data.save_records(res.fills, out / "fills.parquet")
    dd = _metrics.drawdown(res.equity)
    _data.save_columns({"bar_ns": res.equity_ns, "equity": res.equity, "drawdown": dd},
                       out / "equity.parquet")
    summary = {**_metrics.summary(res, cfg.features.bar_ms),
               "overrides": [f"{s}.{k}={v}" for s, k, v in overrides],
               "config": _config.describe(cfg), "load_s": loaded - started,
               "run_s": ran - loaded, "ticks_per_s": res.ticks / max(ran - loaded, 1e-9)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return {**summary, "dir": str(out), "equity_ns": res.equity_ns.tolist(),
            "equity": res.equity.tolist(), "drawdown": dd.tolist()}


def shed_heap() -> None:
    """Give the heap's freed pages back to the kernel before forking workers. A forked worker
    inherits the pages malloc keeps after a free copy-on-write, and its first allocations
    then copy them one by one: a fresh worker's first tick-file load took 160 ms instead of
    52 ms after the parent had run a backtest of its own (bench backtest's sweep)."""
    gc.collect()
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)  # the libc this process runs on
    if trim is not None:  # glibc; another libc keeps its own ways
        trim(0)
    pa, _ = _data.pyarrow_modules()
    pa.default_memory_pool().release_unused()


def run_grid(data: Path, config: Path | None, grid: list[list[_config.Override]], out: Path,
             workers: int) -> list[dict[str, Any]]:
    """Every run of the grid, `workers` processes at a time (in this process when 1 run)."""
    dirs = [out if len(grid) == 1 else out / f"run-{i:03d}" for i in range(len(grid))]
    if len(grid) == 1:
        return [run_one(data, config, grid[0], dirs[0])]
    ctx = multiprocessing.get_context("fork")  # the pipeline's modules are loaded already
    shed_heap()
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = [pool.submit(run_one, data, config, o, d)
                   for o, d in zip(grid, dirs, strict=True)]
        return [f.result() for f in futures]


def write_reports(results: list[dict[str, Any]], out: Path) -> None:
    runs = [{"label": Path(r["dir"]).name if len(results) > 1 else "run",
             "overrides": " ".join(r["overrides"]) or "(none)", "summary": r,
             "equity_ns": r["equity_ns"], "equity": r["equity"], "drawdown": r["drawdown"]}
            for r in results]
    (out / "report.html").write_text(_report.render(runs))
    if len(results) > 1:
        keys = ["pnl", "sharpe", "max_drawdown", "turnover", "fills", "orders", "ticks",
                "run_s"]
        cols: dict[str, Any] = {"run": [Path(r["dir"]).name for r in results],
                                "overrides": [" ".join(r["overrides"]) for r in results],
                                "config": [json.dumps(r["config"], sort_keys=True)
                                           for r in results]}
        cols.update({k: [r[k] for r in results] for k in keys})
        _data.save_columns(cols, out / "sweep.parquet")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nautilusctl backtest", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="the Parquet tick file")
    p.add_argument("--config", type=Path, help="a topology TOML (its engines' params)")
    p.add_argument("--out", type=Path, required=True, help="the results directory")
    p.add_argument("--sweep", action="append", default=[], metavar="SECTION.KEY=V1,V2")
    p.add_argument("--models", type=Path, metavar="STATE_DIR",
                   help="the research strategy trades on the signals of this state dir's "
                        "model in force (backtest.models)")
    p.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--json", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.data.is_file():
        print(f"backtest: --data {args.data}: no such file", file=sys.stderr)
        return 2
    if args.workers < 1:
        print(f"backtest: --workers {args.workers}: must be at least 1", file=sys.stderr)
        return 2
    try:
        grid = _config.parse_sweep(args.sweep)
        if args.models is not None:
            grid = [[*combo, ("backtest", "models", str(args.models))] for combo in grid]
        results = run_grid(args.data, args.config, grid, args.out, args.workers)
    except ParamError as exc:
        print(f"backtest: {exc}", file=sys.stderr)
        return 2
    write_reports(results, args.out)
    rows = [{k: v for k, v in r.items() if k not in ("equity_ns", "equity", "drawdown",
                                                      "config")} for r in results]
    if args.json:
        print(json.dumps({"runs": rows, "out": str(args.out)}, sort_keys=True))
    else:
        for r in rows:
            print(f"{r['dir']}: {r['ticks']} ticks, {r['fills']} fills, pnl {r['pnl']:.2f}, "
                  f"sharpe {r['sharpe']:.2f}, max drawdown {r['max_drawdown']:.2f}, "
                  f"{r['ticks_per_s'] / 1e6:.2f} M ticks/s")
        print(f"report: {args.out / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
