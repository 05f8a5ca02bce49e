"""`nautilusctl bench rings [--quick] [--json]`: shm rings against Pipe and pyzmq, 64-byte records.

Two real processes on two cores: this one (cpu 0) and a forked peer (cpu 1). Round trips
ping over one ring and pong over another; throughput is one-way; idle CPU is the parked peer's.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import psutil

from nautilusd.bench import _ring_measure as m
from nautilusd.bench import _ring_peers as peers
from nautilusd.bench._ring_measure import Plan
from nautilusd.bench.report import emit

QUICK = Plan(spin_rtts=50_000, wake_rtts=10_000, sporadic_rtts=4_000, single=600_000,
             batched=6_000_000, idle_s=2.0)
FULL = Plan(spin_rtts=300_000, wake_rtts=50_000, sporadic_rtts=20_000, single=3_000_000,
            batched=30_000_000, idle_s=5.0)


def _measure(bench: m.Bench, label: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Run one measurement; a failure (e.g. a starved peer) becomes an error row, not a crash."""
    try:
        return fn(bench, *args)
    except Exception as exc:  # a report with one failed row beats no report
        bench.kill_peers()
        bench.rows.append({"measure": "error", "transport": label, "error": repr(exc)[:160]})
        return None


def _rtt(bench: m.Bench, label: str, fn: Callable[..., Any], *args: Any) -> dict[str, Any]:
    samples = _measure(bench, label, fn, *args)
    if samples is None:
        return {"p50": None, "p99": None}
    return bench.add_rtt(label, samples)


def run(plan: Plan) -> dict[str, Any]:
    """Every measurement, in a fixed order; returns the rows and the summary."""
    bench = m.Bench(plan)
    me = psutil.Process()
    affinity = me.cpu_affinity()
    try:
        peers.pin(bench.my_cpu)
        spin = _rtt(bench, "ring busy-spin", m.ring_rtt, plan.spin_rtts, False, 0.0)
        # The summary's blocking figure is the shipped Blocking strategy (spin 20 us, then
        # park) under back-to-back traffic; the sporadic rows show what a doorbell wake-up of
        # a parked reader adds when traffic pauses for 500 us between messages.
        block = _rtt(bench, "ring blocking, back-to-back (spin 20 us, then park)", m.ring_rtt,
                     plan.wake_rtts, True, 20e-6)
        _rtt(bench, "ring blocking, sporadic: 500 us gaps, echo parked", m.ring_rtt,
             plan.sporadic_rtts, True, 20e-6, 500e-6)
        _rtt(bench, "ring blocking, sporadic: both sides park at once (spin 0)", m.ring_rtt,
             plan.sporadic_rtts, True, 0.0, 500e-6)
        _rtt(bench, "bare FIFO ping-pong, both parked (wake-up floor)", m.fifo_floor_rtt,
             plan.sporadic_rtts, 500e-6)
        pipe = _rtt(bench, "multiprocessing.Pipe", m.pipe_rtt, plan.wake_rtts)
        zmq_ = _rtt(bench, "pyzmq PAIR ipc", m.zmq_rtt, plan.wake_rtts)
        summary = {
            "ring_spin_rtt_p50_us": spin["p50"], "ring_spin_rtt_p99_us": spin["p99"],
            "ring_block_rtt_p50_us": block["p50"],
            "ring_block_idle_cpu_pct": _round(_measure(bench, "idle", m.parked_idle_cpu), 3),
            "pipe_rtt_p50_us": pipe["p50"], "zmq_rtt_p50_us": zmq_["p50"],
            "ring_single_msgs_per_s": _round(_measure(bench, "ring single", m.ring_rate,
                                                      plan.single, False)),
            "ring_batch_msgs_per_s": _round(_measure(bench, "ring batch", m.ring_rate,
                                                     plan.batched, True)),
            "zmq_single_msgs_per_s": _round(_measure(bench, "zmq single", m.zmq_rate,
                                                     plan.single, False)),
            "zmq_batch_msgs_per_s": _round(_measure(bench, "zmq batch", m.zmq_rate,
                                                    plan.batched, True)),
        }
    finally:
        me.cpu_affinity(affinity)
        bench.close()
    _ratios(bench.rows, summary)
    return {"rows": bench.rows, "summary": summary}


def _round(value: float | None, digits: int | None = None) -> float | None:
    return None if value is None else round(value, digits)


def _ratio(a: float | None, b: float | None, digits: int) -> float | None:
    return None if not a or not b else round(a / b, digits)


def _ratios(rows: list[dict[str, Any]], s: dict[str, Any]) -> None:
    """Rows comparing the ring with pyzmq in this same run (the summary keys stay fixed)."""
    rows.append({"measure": "zmq_rtt_over_ring_spin_rtt", "transport": "ratio",
                 "p50": _ratio(s["zmq_rtt_p50_us"], s["ring_spin_rtt_p50_us"], 1)})
    rows.append({"measure": "ring_batch_over_zmq_batch", "transport": "ratio",
                 "p50": _ratio(s["ring_batch_msgs_per_s"], s["zmq_batch_msgs_per_s"], 2)})
    rows.append({"measure": "ring_single_over_zmq_single", "transport": "ratio",
                 "p50": _ratio(s["ring_single_msgs_per_s"], s["zmq_single_msgs_per_s"], 2)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nautilusctl bench rings", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples (< 60 s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    result = run(QUICK if args.quick else FULL)
    return emit("rings", result["rows"], result["summary"], args.json)


if __name__ == "__main__":
    sys.exit(main())
