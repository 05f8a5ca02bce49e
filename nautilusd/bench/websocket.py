"""`nautilusctl bench websocket`: the gateway's fan-out, measured from outside.

The gateway engine runs alone in its own process (engines.runner) on a private bus; this
process publishes `bench.*` messages at a fixed rate with their send time; two client
processes (nautilusd.bench._ws_clients) hold the connections. Phase A: every client reads.
Phase B: one client stops reading (its socket fills, the gateway conflates then drops it);
the others' rate is compared with phase A, and the stalled client itself must see its
connection closed, or the figure is not measured (the gateway's limits are set low here so
that a 4 s phase reaches them). Latency is bus publish -> client socket read.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import zmq

from nautilusd.bench.report import emit, percentiles

TOKEN = "bench-token"
TOPICS = 8
# Slow-client limits for the bench (the defaults are 256 KiB / 4 MiB / 10 s): low enough that
# the stalled client is conflated and dropped within one phase at 200 msg/s.
SLOW_LIMITS = {"slow_client_bytes": 4 * 1024, "drop_client_bytes": 64 * 1024,
               "drop_slow_after_s": 0.5}


def _gateway(work: Path, bus: str, flush_ms: float) -> subprocess.Popen[bytes]:
    params = {"port": 0, "token": TOKEN, "topics": ["bench."], "max_clients": 5000,
              "flush_interval_ms": flush_ms, **SLOW_LIMITS}
    return subprocess.Popen(
        [sys.executable, "-m", "engines.runner", "engines.gateway:GatewayEngine",
         "--name", "gateway", "--params", json.dumps(params), "--bus-sub", bus,
         "--runtime-dir", str(work), "--state-dir", str(work)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_file(path: Path, proc: subprocess.Popen[bytes], timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"gateway did not listen (exit {proc.poll()})")
        time.sleep(0.05)
    return dict(json.loads(path.read_text()))


def _clients(url: str, n: int, procs: int) -> list[subprocess.Popen[str]]:
    share = [n // procs + (i < n % procs) for i in range(procs)]
    return [subprocess.Popen(
        [sys.executable, "-m", "nautilusd.bench._ws_clients", url, "--clients", str(k),
         *(["--stall-first"] if i == 0 else [])],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for i, k in enumerate(share)]


def _publish(pub: zmq.Socket[Any], rate_per_s: float, until: float) -> int:
    """Publish at `rate_per_s` until `until` (monotonic s), each message with its send time."""
    packer, sent, start = msgpack.Packer(), 0, time.monotonic()
    pad = "x" * 48
    while (now := time.monotonic()) < until:
        due = int((now - start) * rate_per_s)
        while sent < due:
            topic = f"bench.t{sent % TOPICS}".encode()
            pub.send_multipart((topic, packer.pack({"sent_ns": time.monotonic_ns(),
                                                    "seq": sent, "pad": pad})))
            sent += 1
        time.sleep(0.001)
    return sent


def measure(clients: int, rate_per_s: float, phase_s: float, work: Path,
            flush_ms: float = 10.0) -> dict[str, Any]:
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    bus = f"ipc://{work}/bus.sock"
    pub.bind(bus)
    gateway = _gateway(work, bus, flush_ms)
    procs: list[subprocess.Popen[str]] = []
    try:
        url = _wait_file(work / "gateway.json", gateway, 30)["ws"] + f"?token={TOKEN}"
        procs = _clients(url, clients, 2)
        connected = sum(_connected(p) for p in procs)
        if connected != clients:
            raise RuntimeError(f"only {connected} of {clients} clients connected")
        t = time.monotonic() + 1.0  # warm-up, then A, then B
        phases = [t, t + phase_s, t + phase_s + 1.0, t + 2 * phase_s + 1.0]
        for p in procs:
            assert p.stdin is not None
            p.stdin.write(" ".join(f"{x:.6f}" for x in [*phases, phases[3] + 0.2]) + "\n")
            p.stdin.flush()
        _publish(pub, rate_per_s, phases[3] + 0.3)
        docs = [json.loads(p.communicate(timeout=60)[0].splitlines()[-1]) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(timeout=20)
        pub.close()
        ctx.term()
    return _figures(docs, connected, phase_s)


def _connected(proc: subprocess.Popen[str]) -> int:
    """The count a client process reports once its connections are up; 0 if it died."""
    words = (proc.stdout.readline() if proc.stdout is not None else "").split()
    return int(words[1]) if len(words) == 2 and words[0] == "connected" else 0


def _figures(docs: list[dict[str, Any]], connected: int, phase_s: float) -> dict[str, Any]:
    a = [n for d in docs for n in d["counts_a"]]
    b_others = [n for d in docs for i, n in enumerate(d["counts_b"]) if i != d["stalled"]]
    a_others = [n for d in docs for i, n in enumerate(d["counts_a"]) if i != d["stalled"]]
    lat = percentiles([x for d in docs for x in d["latency_ms"]])
    rate_a, rate_b = float(np.median(a_others)) / phase_s, float(np.median(b_others)) / phase_s
    # The effect is only measured if the stall really reached the gateway's limits.
    dropped = all(d["stalled_dropped"] for d in docs if d["stalled"] >= 0)
    return {"ws_clients": connected, "ws_msgs_per_s": round(sum(a) / phase_s),
            "ws_delivery_p50_ms": lat["p50"], "ws_delivery_p99_ms": lat["p99"],
            "latency_samples": lat["n"],
            "per_client_msgs_per_s_a": round(rate_a, 1),
            "per_client_msgs_per_s_b": round(rate_b, 1),
            "stalled_client_dropped": dropped,
            "ws_slow_client_effect_pct": round(100 * abs(rate_b - rate_a) / rate_a, 3)
            if rate_a and dropped else math.nan}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nautilusctl bench websocket", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one run of 2 x 4 s phases")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0, help="bus messages per second")
    parser.add_argument("--flush-ms", type=float, default=10.0, help="gateway flush interval")
    parser.add_argument("--runs", type=int, default=None, help="default: 1 quick, 3 full")
    args = parser.parse_args(argv)
    runs, phase_s = args.runs or (1 if args.quick else 3), 4.0 if args.quick else 10.0
    rows = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="nd-ws-", dir="/tmp") as tmp:
            os.chmod(tmp, 0o700)
            rows.append(measure(args.clients, args.rate, phase_s, Path(tmp), args.flush_ms))
    keys = ("ws_clients", "ws_msgs_per_s", "ws_delivery_p99_ms", "ws_slow_client_effect_pct")
    summary: dict[str, Any] = {k: float(np.median([r[k] for r in rows])) for k in keys}
    summary.update(runs=runs, bus_msgs_per_s=args.rate, phase_s=phase_s)
    return emit("websocket", rows, summary, args.json)


if __name__ == "__main__":
    sys.exit(main())
