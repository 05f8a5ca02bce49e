"""bench bridge: tick-to-fill across a ring bridge, its records/s, against peers run now.

Two hosts simulated by two network namespaces joined by veth (root needed), each with its
own nautilusd (nautilusd/bench/_bridge_rig.py): market data on a, strategy, risk and
execution on b, ticks bridged a -> b over CURVE. Peers measured in the same run: the same
order path on one host (local tick-to-fill) and a bare pyzmq REQ/REP round trip over the
same veth. The bridge's added p50 is bridged minus local p50, compared with that round trip.
Throughput: raw64 records offered at --blast-rate (3 M/s) in large batches into an overwrite
ring bridged a -> b, records written on b per second (the sender's laps are counted); its
sender gets a 4 MiB send buffer (the 64 KiB default bounds stale ticks in flight, not rate).
Reproduce: `sudo .venv/bin/nautilusctl bench bridge --quick --json`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from nautilusd.bench import _bridge_rig as rig
from nautilusd.bench._netns import HostPair, available
from nautilusd.bench.report import emit, percentiles

RTT_PORT = 7300
_ECHO = """
import sys, zmq
s = zmq.Context().socket(zmq.REP); s.setsockopt(zmq.LINGER, 0)
s.bind(f"tcp://{sys.argv[1]}:{sys.argv[2]}")
while True:
    m = s.recv()
    s.send(m)
    if m == b"stop":
        break
"""
_PING = """
import json, sys, time, zmq
s = zmq.Context().socket(zmq.REQ); s.setsockopt(zmq.LINGER, 0)
s.connect(f"tcp://{sys.argv[1]}:{sys.argv[2]}")
n, gap = int(sys.argv[3]), float(sys.argv[4])
msg = bytes(64)
for _ in range(200):
    s.send(msg); s.recv()
out = []
for _ in range(n):
    t = time.perf_counter_ns(); s.send(msg); s.recv(); out.append(time.perf_counter_ns() - t)
    if gap:
        time.sleep(gap)
s.send(b"stop"); s.recv()
print(json.dumps(out))
"""


def zmq_rtt_us(pair: HostPair, n: int, gap_s: float) -> np.ndarray:
    """Round trips of 64 bytes between the namespaces: REQ in a, REP in b (plain TCP)."""
    echo = subprocess.Popen(pair.b.cmd(sys.executable, "-c", _ECHO, pair.b.address,
                                       str(RTT_PORT)))
    try:
        time.sleep(0.3)
        ping = subprocess.run(pair.a.cmd(sys.executable, "-c", _PING, pair.b.address,
                                         str(RTT_PORT), str(n), str(gap_s)),
                              capture_output=True, text=True, timeout=120, check=True)
        return np.asarray(json.loads(ping.stdout), dtype=np.float64) / 1000.0
    finally:
        if echo.poll() is None:
            echo.kill()
        echo.wait(10)


def bridged_latency(root: Path, pair: HostPair, rate: float, seconds: float,
                    tag: str) -> dict[str, Any]:
    a, b = rig.hosts(root, pair, f"l{tag}")
    rig.keys(a, b)
    conf_a, conf_b = rig.bridged_configs(a, b, pair, rate)
    with rig.running(a, b, conf_a, conf_b):
        time.sleep(seconds)
        fills = b.ring("fills", rig.FILL)
        ticks_in = b.engine("ticks_in")
    return {"t2f": rig.tick_to_fill_us(fills), "ticks_in": ticks_in}


def local_latency(root: Path, pair: HostPair, rate: float, seconds: float,
                  tag: str) -> np.ndarray:
    host = rig.Host("local", root / f"local{tag}", pair.b, f"brl{os.getpid()}{tag}")
    try:
        host.start(rig.local_config(host, rate))
        host.wait_ready()
        time.sleep(seconds)
        fills = host.ring("fills", rig.FILL)
    finally:
        host.stop()
    return rig.tick_to_fill_us(fills)


def throughput(root: Path, pair: HostPair, seconds: float, rate: float) -> dict[str, Any]:
    a, b = rig.hosts(root, pair, "x")
    rig.keys(a, b)
    conf_a, conf_b = rig.blast_configs(a, b, pair, rate)
    with rig.running(a, b, conf_a, conf_b):
        time.sleep(0.5)  # past the start: the link is up and the feed flat out
        first = b.engine("blast_in")["counters"]["records_in"]
        t0 = time.monotonic()
        time.sleep(seconds)
        last = b.engine("blast_in")
        elapsed = time.monotonic() - t0
        sent = a.engine("blast_out")
        produced = a.engine("blast")["counters"]["records_out"]
    received = last["counters"]["records_in"] - first
    return {"records_per_s": round(received / elapsed, 1), "window_s": round(elapsed, 3),
            "received": received, "produced": produced,
            "sender_lapped": sent["named_counters"].get("gaps"),
            "receiver_gap_records": last["named_counters"].get("gap_records")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nautilusctl bench bridge", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs (~1 min in all)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--rate", type=float, default=1000.0, help="ticks/s for the latency")
    parser.add_argument("--blast-rate", type=float, default=3e6,
                        help="records/s offered to the bridge for the throughput")
    args = parser.parse_args(argv)
    why = available()
    if why:
        sys.stderr.write(f"bench bridge: {why}\n")
        return 2
    latency_s, blast_s, rtts = (6.0, 3.0, 2000) if args.quick else (20.0, 10.0, 10000)
    root = Path(tempfile.mkdtemp(prefix="nd-bench-bridge-"))
    rows: list[dict[str, Any]] = []
    try:
        with HostPair("m") as pair:
            # alternated, twice each: a load change on the host hits both paths alike
            local, bridged_t2f = [], []
            for i in range(2):
                local.append(local_latency(root, pair, args.rate, latency_s, str(i)))
                bridged = bridged_latency(root, pair, args.rate, latency_s, str(i))
                bridged_t2f.append(bridged["t2f"])
            rtt = zmq_rtt_us(pair, rtts, 0.0005)
            blast = throughput(root, pair, blast_s, args.blast_rate)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    lp, bp = percentiles(np.concatenate(local)), percentiles(np.concatenate(bridged_t2f))
    rp = percentiles(rtt)
    rows += [{"measure": "tick_to_fill_us", "path": "local", **lp},
             {"measure": "tick_to_fill_us", "path": "bridged a -> b", **bp},
             {"measure": "zmq_tcp_rtt_us", "path": "bare pyzmq REQ/REP over the veth", **rp},
             {"measure": "bridge_records_per_s", "path": "overwrite ring a -> b", **blast}]
    added = bp["p50"] - lp["p50"]
    summary = {
        "bridge_tick_to_fill_p50_us": bp["p50"], "bridge_tick_to_fill_p99_us": bp["p99"],
        "bridge_records_per_s": blast["records_per_s"], "local_tick_to_fill_p50_us": lp["p50"],
        "local_tick_to_fill_p99_us": lp["p99"], "zmq_tcp_rtt_p50_us": rp["p50"],
        "bridge_added_p50_us": round(added, 3),
        "bridge_added_over_rtt": round(added / rp["p50"], 3) if rp["p50"] else None,
        "records_per_s_at_least_1m": blast["records_per_s"] >= 1e6,
        "added_p50_within_2x_rtt": added <= 2 * rp["p50"],
    }
    return emit("bridge", rows, summary, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
