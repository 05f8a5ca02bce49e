"""`nautilusctl bench pipeline [--quick] [--json] [--config F] [--wait KIND] [--no-pin] ...`.

Tick-to-fill p50/p99/p99.9 through marketdata -> strategy -> risk -> execution over rings and
over pyzmq ipc (same engines, same params, same waits and cores, real processes), risk batched
throughput, marketdata -> strategy tick throughput, and a FIX NewOrderSingle's round trip to
its acknowledgement against the test acceptor on loopback (fix_order_to_ack_p50_us). Waits,
spin budgets, cores and tick wake-ups of the four engines come from configs/default.toml (or
--config). --quick stays under two minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engines import compiled as _compiled
from engines.spec import SpinKind
from nautilusd.bench import _pipeline_runs as runs
from nautilusd.bench._fix_ack import order_to_ack_ns
from nautilusd.bench._pipeline_rig import Tuning
from nautilusd.bench.report import emit, percentiles
from shm import ring_paths

PIPELINE = ("marketdata", "strategy", "risk", "execution")
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "default.toml"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nautilusctl bench pipeline", description=__doc__)
    p.add_argument("--quick", action="store_true", help="shorter runs (< 120 s in all)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--wait", default=None,
                   choices=("blocking", "yielding", "sleeping", "busy_spin"),
                   help="one wait strategy for every engine (default: each engine's in --config)")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                   help="take the four engines' waits, spin budgets, cores and tick wake-ups "
                        "from this topology (default: configs/default.toml)")
    p.add_argument("--no-pin", action="store_true",
                   help="leave every engine unpinned (default: the cores --config gives them)")
    p.add_argument("--rate", type=float, default=1_000.0, help="ticks/s for the latency runs")
    return p


def ticks_latest(path: Path = DEFAULT_CONFIG) -> bool:
    """Whether the topology's tick ring keeps a latest-value board (risk and the venue then
    look up each order's quote there instead of reading every tick)."""
    from nautilusd.config.load import load_config

    return any(r.latest for r in load_config(path).rings.values() if r.record == "tick")


def default_tuning(path: Path = DEFAULT_CONFIG) -> dict[str, Tuning]:
    """Each critical-path engine's wait, spin budget, cores and tick wake-ups in `path`
    (configs/default.toml): the bench measures the pipeline as the default topology runs it.
    Cores the host does not have are dropped (the topology would be refused there anyway)."""
    from nautilusd.config.load import load_config

    engines = load_config(path).engines  # a broken default.toml is an error, not a guess
    host = set(os.sched_getaffinity(0))
    out = {}
    for name in PIPELINE:
        cfg = engines.get(name)
        if cfg is None:
            out[name] = Tuning()
            continue
        cpus = tuple(c for c in cfg.cpus if c in host)
        out[name] = Tuning(cfg.wait.value, cfg.spin_us, cpus if cpus == cfg.cpus else (),
                           hot=cfg.spin is SpinKind.HOT, nice=cfg.nice,
                           wake_on_ticks=bool(cfg.params.get("wake_on_ticks", False)))
    return out


def _override(tuning: dict[str, Tuning], wait: str | None, no_pin: bool) -> dict[str, Tuning]:
    out = {}
    for name, t in tuning.items():
        if wait is not None and wait != t.wait:
            t = dataclasses.replace(t, wait=wait, spin_us=None, hot=False)
        if no_pin:
            t = dataclasses.replace(t, cpus=())
        out[name] = t
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    tuning = _override(default_tuning(args.config), args.wait, args.no_pin)
    wait_label = ",".join(f"{n}={t.label()}" for n, t in tuning.items())
    latency_s, throughput_s = (4.0, 2.0) if args.quick else (12.0, 5.0)
    results: list[dict[str, Any]] = []
    latest = ticks_latest(args.config)
    ring = runs.ring_tick_to_fill(latency_s, args.rate, tuning, latest)
    zmq = runs.zmq_tick_to_fill(latency_s, args.rate, tuning)
    # which one-record paths ran: the kernels on both sides, compiled ring paths on one
    kernels = "compiled" if _compiled.running() else "python"
    paths_ran = ring_paths()
    for name, lat in (("rings", ring), ("zmq_ipc", zmq)):
        extra = ({"latest_board": latest, "ring_paths": paths_ran} if name == "rings"
                 else {})
        extra["kernels"] = kernels
        results.append({"measure": "tick_to_fill_us", "transport": name, "wait": wait_label,
                        "rate_per_s": args.rate, **extra, **percentiles(lat, 1e-3),
                        "above_1ms": above_1ms(lat)})
    risk = runs.risk_throughput(throughput_s)
    results.append({"measure": "risk_orders_per_s", "transport": "rings", "batch": 8192,
                    "value": round(risk)})
    ticks = runs.tick_throughput(throughput_s)
    results.append({"measure": "ticks_per_s", "transport": "rings", "batch": 4096,
                    "value": round(ticks)})
    fix = percentiles(order_to_ack_ns(200 if args.quick else 1_000), 1e-3)
    results.append({"measure": "fix_order_to_ack_us", "transport": "fix44_tcp_loopback",
                    **fix})
    r, z = percentiles(ring, 1e-3), percentiles(zmq, 1e-3)
    summary = {
        "ring_tick_to_fill_p50_us": r["p50"], "ring_tick_to_fill_p99_us": r["p99"],
        "ring_tick_to_fill_p999_us": r["p999"], "ring_tick_to_fill_above_1ms": above_1ms(ring),
        "ring_tick_to_fill_samples": r["n"],
        "zmq_tick_to_fill_p50_us": z["p50"], "zmq_tick_to_fill_p99_us": z["p99"],
        "zmq_tick_to_fill_p999_us": z["p999"],
        "risk_orders_per_s": round(risk), "ticks_per_s": round(ticks),
        "fix_order_to_ack_p50_us": fix["p50"],
    }
    return emit("pipeline", results, summary, args.json)


def above_1ms(latencies_ns: Sequence[float] | np.ndarray) -> int:
    """How many tick-to-fill samples took longer than a millisecond (the tail's size)."""
    return int((np.asarray(latencies_ns, dtype=np.float64) > 1e6).sum())


if __name__ == "__main__":
    sys.exit(main())
