"""An outside check of `bench restart`: another process, its own bus subscription and matching.

`python -m nautilusd.bench.restart_outside BUS_SUB_ENDPOINT ENGINE PID -n N` SIGKILLs the
engine N times, starting from PID: each kill is timed from just before kill() to the
`exited` event naming the killed pid and to the first `ready` event that comes after it and
names another pid, which is the next one killed. It shares no code with the bench's own
matching (nautilusd.bench.restart_events) and reads neither the status table nor the
daemon's stamps, only what arrives: if the two disagree by more than 2x the bench fails.
Prints one JSON object: {"exit_seen_ms": [...], "ready_ms": [...]}.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from typing import Any

import msgpack
import zmq

SETTLE_S = 0.3  # for the subscription to reach the daemon's proxy
BETWEEN_KILLS_S = 0.06  # past the bench topology's restart window: an isolated crash


def _events(sock: zmq.Socket[bytes], prefix: bytes, deadline: float) -> Any:
    """(arrival time, event name, pid) of each lifecycle event until `deadline`."""
    while (left := deadline - time.monotonic()) > 0:
        if not sock.poll(max(1, int(left * 1000))):
            break
        topic, body = sock.recv_multipart()[:2]
        at = time.monotonic()
        yield at, topic[len(prefix):].decode(), int(msgpack.unpackb(body).get("pid") or 0)
    raise TimeoutError("no matching events before the deadline")


def one_kill(sock: zmq.Socket[bytes], prefix: bytes, pid: int,
             timeout_s: float = 10.0) -> tuple[float, float, int]:
    """Kill `pid`; (ms to its exited event, ms to the next ready of another pid, that pid)."""
    while sock.poll(0):  # what is queued is about earlier processes
        sock.recv_multipart()
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    exited = None
    for at, event, about in _events(sock, prefix, t0 + timeout_s):
        if event == "exited" and about == pid:
            exited = at
        elif event == "ready" and exited is not None and about not in (0, pid):
            return (exited - t0) * 1e3, (at - t0) * 1e3, about
    raise AssertionError("unreachable")  # _events raises at the deadline


def measure(endpoint: str, engine: str, pid: int, n: int) -> dict[str, list[float]]:
    prefix = f"system.engine.{engine}.".encode()
    ctx: zmq.Context[Any] = zmq.Context()
    sock: zmq.Socket[bytes] = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SUBSCRIBE, prefix)
    sock.connect(endpoint)
    exit_seen, ready = [], []
    try:
        time.sleep(SETTLE_S)
        for _ in range(n):
            time.sleep(BETWEEN_KILLS_S)
            seen_ms, ready_ms, pid = one_kill(sock, prefix, pid)
            exit_seen.append(round(seen_ms, 4))
            ready.append(round(ready_ms, 4))
    finally:
        sock.close(linger=0)
        ctx.term()
    return {"exit_seen_ms": exit_seen, "ready_ms": ready}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nautilusd.bench.restart_outside",
                                     description=__doc__)
    parser.add_argument("endpoint", help="the daemon's bus SUB endpoint (ipc://...)")
    parser.add_argument("engine", help="engine instance name, as in its event topics")
    parser.add_argument("pid", type=int, help="the engine's current pid")
    parser.add_argument("-n", type=int, default=25, help="kills (default 25)")
    args = parser.parse_args(argv)
    try:
        result = measure(args.endpoint, args.engine, args.pid, args.n)
    except (TimeoutError, OSError) as exc:
        print(f"restart_outside: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
