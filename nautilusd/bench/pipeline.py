"""`nautilusctl bench pipeline [--quick] [--json] [--wait KIND] [--rate N]`: the trading path.

Tick-to-fill p50/p99/p99.9 through marketdata -> strategy -> risk -> execution over rings and
over pyzmq ipc (same engines, same params, real processes), risk batched throughput, and
marketdata -> strategy tick throughput. --quick stays well under two minutes.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any

from nautilusd.bench import _pipeline_runs as runs
from nautilusd.bench.report import emit, percentiles

PIPELINE = ("marketdata", "strategy", "risk", "execution")
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "default.toml"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nautilusctl bench pipeline", description=__doc__)
    p.add_argument("--quick", action="store_true", help="shorter runs (< 120 s in all)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--wait", default=None,
                   choices=("blocking", "yielding", "sleeping", "busy_spin"),
                   help="one wait strategy for every engine (default: configs/default.toml's)")
    p.add_argument("--rate", type=float, default=1_000.0, help="ticks/s for the latency runs")
    return p


def default_waits(path: Path = DEFAULT_CONFIG) -> dict[str, str]:
    """Each critical-path engine's wait in configs/default.toml ("blocking" if not found)."""
    try:
        engines = tomllib.loads(path.read_text()).get("engines", {})
    except (OSError, tomllib.TOMLDecodeError):
        engines = {}
    return {name: engines.get(name, {}).get("wait", "blocking") for name in PIPELINE}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    waits = {n: args.wait for n in PIPELINE} if args.wait else default_waits()
    wait_label = ",".join(f"{n}={w}" for n, w in waits.items())
    latency_s, throughput_s = (4.0, 2.0) if args.quick else (12.0, 5.0)
    results: list[dict[str, Any]] = []
    ring = runs.ring_tick_to_fill(latency_s, args.rate, waits)
    zmq = runs.zmq_tick_to_fill(latency_s, args.rate, waits)
    for name, lat in (("rings", ring), ("zmq_ipc", zmq)):
        results.append({"measure": "tick_to_fill_us", "transport": name, "wait": wait_label,
                        "rate_per_s": args.rate, **percentiles(lat, 1e-3)})
    risk = runs.risk_throughput(throughput_s)
    results.append({"measure": "risk_orders_per_s", "transport": "rings", "batch": 8192,
                    "value": round(risk)})
    ticks = runs.tick_throughput(throughput_s)
    results.append({"measure": "ticks_per_s", "transport": "rings", "batch": 4096,
                    "value": round(ticks)})
    r, z = percentiles(ring, 1e-3), percentiles(zmq, 1e-3)
    summary = {
        "ring_tick_to_fill_p50_us": r["p50"], "ring_tick_to_fill_p99_us": r["p99"],
        "zmq_tick_to_fill_p50_us": z["p50"], "zmq_tick_to_fill_p99_us": z["p99"],
        "risk_orders_per_s": round(risk), "ticks_per_s": round(ticks),
    }
    emit("pipeline", results, summary, args.json)
    return 0
