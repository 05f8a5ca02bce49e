"""`nautilusctl bench metrics [--quick] [--json] [--rate-hz N]`: what scraping costs the pipeline.

One run of marketdata -> strategy over a ring (real engine processes, unpaced), with the
metrics server of the daemon's side serving that rig; phases alternate without and with a
separate scraper process fetching /metrics at 10 Hz (ABBA order, so drift cancels), and the
report gives the throughput ratio with/without. Target: 1.00 within 2%.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import sys
import time
import urllib.request
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import psutil

from engines.spec import RingConfig
from nautilusd.bench import _pipeline_runs as runs
from nautilusd.bench._pipeline_rig import Rig, engine, ring
from nautilusd.bench.report import emit, percentiles
from nautilusd.config.model import SupervisorConfig, Topology
from nautilusd.metrics.server import MetricsServer
from nautilusd.metrics.source import StatusTableSource
from shm import Policy
from shm.status import W_RECORDS_IN

TARGET_RATIO_TOLERANCE = 0.02


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nautilusctl bench metrics", description=__doc__)
    p.add_argument("--quick", action="store_true", help="48 phases of 0.5 s (about 30 s)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--rate-hz", type=float, default=10.0, help="scrapes per second")
    return p


def _scraper(url: str, rate_hz: float, active: Any, stop: Any, took_ns: Any,
             count: Any, size: Any) -> None:
    """Child: while `active` is set, GET `url` every 1/rate_hz s (no catch-up bursts)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    period = 1.0 / rate_hz
    while not stop.is_set():
        if not active.wait(0.05):
            continue
        t0 = time.perf_counter_ns()
        with urllib.request.urlopen(url, timeout=5) as reply:
            size.value = len(reply.read())
        took = time.perf_counter_ns() - t0
        with count.get_lock():
            took_ns[count.value % len(took_ns)] = took
            count.value += 1
        stop.wait(max(0.0, period - took / 1e9))
    os._exit(0)


def _topology(rig: Rig, instance: str) -> Topology:
    return Topology(source=Path("<bench>"),
                    supervisor=SupervisorConfig(instance=instance, shm_dir=rig.shm_dir),
                    groups=MappingProxyType({}), rings=MappingProxyType(dict(rig.rings)),
                    engines=MappingProxyType(dict(rig.engines)))


def _source(rig: Rig) -> StatusTableSource:
    """The daemon's metrics source over the rig, whose segments the rig names itself."""
    instance = rig.prefix.split(".")[1]
    return StatusTableSource(rig.status, _topology(rig, instance), segment_of=rig.segment)


def _phase_rate(rig: Rig, seconds: float, procs: list[psutil.Process]) -> tuple[float, float]:
    """Ticks/s taken by the strategy over `seconds`, and ticks per engine CPU-second."""
    counter = rig.slot("strategy")
    cpu0 = sum(sum(p.cpu_times()[:2]) for p in procs)
    c0, t0 = counter.get(W_RECORDS_IN), time.monotonic()
    time.sleep(seconds)  # the measured interval itself, not a wait for a condition
    ticks, wall = counter.get(W_RECORDS_IN) - c0, time.monotonic() - t0
    cpu = sum(sum(p.cpu_times()[:2]) for p in procs) - cpu0
    return ticks / wall, ticks / max(cpu, 0.01)  # cpu_times tick is 10 ms


def _cores() -> tuple[int, dict[str, int]]:
    """The daemon's core and each engine's, as a production host separates them."""
    cores = sorted(os.sched_getaffinity(0))
    engine_cores = cores[1:] or cores
    return cores[0], {"marketdata": engine_cores[0],
                      "strategy": engine_cores[1 % len(engine_cores)]}


def _run(phase_s: float, rounds: int, rate_hz: float, cpus: dict[str, int]) -> dict[str, Any]:
    shm, rt = runs._dirs()
    # A block ring: every tick written is read, so ticks/s is the pipeline's throughput. Its
    # timeout is long: on a loaded box the reader may be descheduled for over a second.
    ticks = RingConfig(name="ticks", record="tick", capacity=65536, policy=Policy.BLOCK,
                       writer="marketdata", readers=("strategy",), block_timeout_ms=60_000)
    rings = [ticks,
             ring("orders", "order", "strategy", (), capacity=65536)]
    engines = [engine("marketdata", "engines.marketdata:MarketDataEngine", "blocking",
                      rate_per_s=0.0, max_batch=4096, bars=False),
               engine("strategy", "engines.strategy:StrategyEngine", "blocking",
                      strategy_id=1, max_batch=8192)]
    try:
        with Rig(shm, rt, runs.SYMBOLS, rings, engines) as rig, \
                MetricsServer("127.0.0.1:0", _source(rig)) as server:
            for name in ("strategy", "marketdata"):
                rig.start(name)
                psutil.Process(rig.procs[name].pid).cpu_affinity([cpus[name]])
                if name == "strategy":
                    runs._wait_for(lambda: rig.ready("strategy"), 15.0)
            runs._wait_for(lambda: rig.slot("strategy").get(W_RECORDS_IN) > 0, 15.0)
            procs = [psutil.Process(p.pid) for p in rig.procs.values()]
            _phase_rate(rig, 1.0, procs)  # warm-up, discarded
            return _phases(rig, server, phase_s, rounds, rate_hz, procs)
    finally:
        runs._cleanup(shm, rt)


def _phases(rig: Rig, server: MetricsServer, phase_s: float, rounds: int,
            rate_hz: float, procs: list[psutil.Process]) -> dict[str, Any]:
    # The scraper is a separate process, as Prometheus is, started once before any phase.
    ctx = multiprocessing.get_context("fork")
    took_ns, count, size = ctx.Array("q", 4096), ctx.Value("q", 0), ctx.Value("q", 0)
    active, stop = ctx.Event(), ctx.Event()
    scraper = ctx.Process(target=_scraper, daemon=True,
                          args=(server.metrics_url, rate_hz, active, stop, took_ns, count,
                                size))
    scraper.start()
    rates: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    try:
        for scraping in [False, True, True, False] * rounds:  # ABBA: linear drift cancels
            if scraping:
                active.set()
            else:
                active.clear()
            rates[scraping].append(_phase_rate(rig, phase_s, procs))
            dead = [p.name() for p in procs if not p.is_running()]
            if dead:
                raise RuntimeError(f"bench metrics: engine process exited mid-run: {dead}")
    finally:
        stop.set()
        active.set()
        scraper.join(5.0)
        if scraper.is_alive():
            scraper.kill()
            scraper.join(1.0)
    n = min(count.value, len(took_ns))
    return {"rates": rates, "scrape_ns": np.array(took_ns[:n]), "scrapes": count.value,
            "scrape_seconds": phase_s * 2 * rounds, "scrape_bytes": size.value}


def _block_ratios(off: np.ndarray, on: np.ndarray) -> np.ndarray:
    """One ratio per ABBA block, (B1 + B2) / (A1 + A2): robust to drift within a block."""
    rounds = len(off) // 2
    return np.array([(on[2 * k] + on[2 * k + 1]) / (off[2 * k] + off[2 * k + 1])
                     for k in range(rounds)])


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    phase_s, rounds = (0.5, 12) if args.quick else (0.5, 30)
    daemon_core, cpus = _cores()
    # This process plays nautilusd: it and its metrics thread (and the scraper, forked from
    # it) stay on the daemon's core; the engines run on theirs.
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {daemon_core})
    try:
        got = _run(phase_s, rounds, args.rate_hz, cpus)
    finally:
        os.sched_setaffinity(0, previous)
    off, on = np.array(got["rates"][False]), np.array(got["rates"][True])
    wall, per_cpu = _block_ratios(off[:, 0], on[:, 0]), _block_ratios(off[:, 1], on[:, 1])
    results = [{"phase": "scraping" if s else "idle", "index": i, "ticks_per_s": round(r),
                "ticks_per_cpu_s": round(c)}
               for s in (False, True) for i, (r, c) in enumerate(got["rates"][s])]
    scrape = percentiles(got["scrape_ns"], 1e-6)
    ratio = float(np.median(wall))
    summary = {
        "ticks_per_s_without_scrape": round(float(off[:, 0].mean())),
        "ticks_per_s_with_scrape": round(float(on[:, 0].mean())),
        "ratio_with_over_without": round(ratio, 4),
        "ratio_per_engine_cpu_s": round(float(np.median(per_cpu)), 4),
        "ratio_blocks_p25_p75": [round(float(q), 4) for q in np.percentile(wall, [25, 75])],
        "phase_spread_without_pct": round(float(np.ptp(off[:, 0]) / off[:, 0].mean() * 100), 1),
        "cores": f"daemon+scraper {daemon_core}, engines {sorted(set(cpus.values()))}",
        "scrape_rate_hz": round(got["scrapes"] / got["scrape_seconds"], 2),
        "scrape_p50_ms": scrape["p50"], "scrape_p99_ms": scrape["p99"],
        "scrape_bytes": got["scrape_bytes"],
        "within_2pct": bool(abs(ratio - 1.0) <= TARGET_RATIO_TOLERANCE),
    }
    return emit("metrics", results, summary, args.json)


if __name__ == "__main__":
    sys.exit(main())
