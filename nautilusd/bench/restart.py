"""`nautilusctl bench restart`: crash -> respawn and crash -> ready, nautilusd vs supervisord.

Both run the same Python engine (engines.reference). Under nautilusd we SIGKILL it N times
and watch its status slot; under a real supervisord (autorestart=true, defaults otherwise)
we SIGKILL it and watch the process table for the new pid. Kills are isolated crashes:
each comes after the engine has been up longer than its restart window (no backoff).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import psutil
import zmq

from nautilusd import paths
from nautilusd.bench.report import emit, percentiles
from nautilusd.states import State
from shm.errors import ShmError
from shm.status import W_PID, W_STATE, StatusTable

POLL_S = 0.0002
INSTANCE = "benchrestart"
ENGINE = "engines.reference:ReferenceEngine"


T = TypeVar("T")


def _wait(condition: Callable[[], T | None], timeout_s: float, what: str) -> T:
    """The first true value of `condition()`, polled until `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(POLL_S)
    raise TimeoutError(f"{what} not within {timeout_s} s")


def _nautilusd_config(directory: Path, shm_dir: Path) -> Path:
    config = directory / "restart.toml"
    config.write_text(
        f'[supervisor]\ninstance = "{INSTANCE}"\nmetrics_address = ""\nshm_dir = "{shm_dir}"\n'
        f'log_level = "warning"\n\n[engines.victim]\nentry = "{ENGINE}"\n'
        "max_restarts = 100000\nrestart_window_s = 0.05\n"
    )
    return config


def measure_nautilusd(n: int, workdir: Path) -> tuple[list[float], list[float]]:
    """SIGKILL the engine `n` times; return crash->respawn and crash->ready times (ms)."""
    shm_dir = Path("/dev/shm") / f"nautilusd-bench-{uuid.uuid4().hex[:8]}"
    shm_dir.mkdir(mode=0o700)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "nautilusd.main", "run", "--config",
         str(_nautilusd_config(workdir, shm_dir)), "--runtime-dir", str(workdir / "rt")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        return _kill_loop(n, shm_dir, daemon, workdir / "rt")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        shutil.rmtree(shm_dir, ignore_errors=True)


def _kill_loop(n: int, shm_dir: Path, daemon: subprocess.Popen[bytes], runtime_dir: Path
               ) -> tuple[list[float], list[float]]:
    segment = shm_dir / paths.status_segment(INSTANCE)
    table = _wait(lambda: _try_attach(segment), 30, "nautilusd status table")
    slot = table.slot(0)
    # Lifecycle events come from the daemon's bus: the bench sleeps in recv instead of
    # polling, so it does not steal the CPU it is measuring.
    sub: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"system.engine.victim.")
    sub.connect(paths.bus_sub_endpoint(runtime_dir))
    respawn_ms, ready_ms = [], []
    try:
        _wait(lambda: slot.get(W_STATE) == State.READY.code or None, 30, "first ready")
        time.sleep(0.3)  # let the subscription reach the proxy
        for _ in range(n):
            time.sleep(0.06)  # longer than the restart window: an isolated crash
            old = slot.get(W_PID)
            t0 = time.monotonic()
            os.kill(old, signal.SIGKILL)
            t1 = _next_event(sub, "spawned")
            t2 = _next_event(sub, "ready")
            respawn_ms.append((t1 - t0) * 1e3)
            ready_ms.append((t2 - t0) * 1e3)
            if daemon.poll() is not None:
                raise RuntimeError(f"nautilusd exited with {daemon.returncode}")
    finally:
        sub.close()
        slot.release()
        table.close()
    return respawn_ms, ready_ms


def _try_attach(segment: Path) -> StatusTable | None:
    try:
        return StatusTable.attach(segment.name, directory=segment.parent)
    except ShmError:  # not there yet, or its header is still being written
        return None


def _new_child(parent: psutil.Process, old: int) -> int | None:
    """The pid of `parent`'s child unless it is `old` (None until a new one runs)."""
    kids = parent.children()
    return kids[0].pid if kids and kids[0].pid != old else None


def _next_event(sub: zmq.Socket[Any], event: str, timeout_s: float = 10.0) -> float:
    """Time of arrival of the next `event` of the victim engine on the bus."""
    topic = f"system.engine.victim.{event}".encode()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sub.poll(int((deadline - time.monotonic()) * 1000) + 1):
            frames = sub.recv_multipart()
            if frames[0] == topic:
                return time.monotonic()
    raise TimeoutError(f"no {event} event within {timeout_s} s")


SUPERVISORD_CONF = """[unix_http_server]
file={dir}/supervisor.sock

[supervisord]
logfile={dir}/supervisord.log
pidfile={dir}/supervisord.pid
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{dir}/supervisor.sock

[program:victim]
command={python} -m engines.runner {entry}
directory={cwd}
autorestart=true
"""


def measure_supervisord(n: int, workdir: Path) -> list[float]:
    """SIGKILL the same engine under supervisord `n` times; crash->new pid (ms)."""
    conf = workdir / "supervisord.conf"
    conf.write_text(SUPERVISORD_CONF.format(dir=workdir, python=sys.executable, entry=ENGINE,
                                            cwd=os.getcwd()))
    supervisord = subprocess.Popen(
        [sys.executable, "-m", "supervisor.supervisord", "-n", "-c", str(conf)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    parent = psutil.Process(supervisord.pid)

    times = []
    try:
        pid = _wait(partial(_new_child, parent, 0), 30, "supervisord child")
        for _ in range(n):
            time.sleep(1.2)  # past startsecs=1: supervisord counts the start as RUNNING
            t0 = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            pid = _wait(partial(_new_child, parent, pid), 30, "respawn")
            times.append((time.monotonic() - t0) * 1e3)
    finally:
        supervisord.send_signal(signal.SIGTERM)
        supervisord.wait(timeout=30)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nautilusctl bench restart", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer kills (< 90 s)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("-n", type=int, help="kills under nautilusd (default 40, quick 25)")
    args = parser.parse_args(argv)
    n = args.n or (25 if args.quick else 100)
    n_supervisord = 5 if args.quick else 12
    with tempfile.TemporaryDirectory(prefix="nd-bench-", dir="/tmp") as tmp:
        respawn, ready = measure_nautilusd(n, Path(tmp))
        baseline = measure_supervisord(n_supervisord, Path(tmp))
    ours, ours_ready, theirs = percentiles(respawn), percentiles(ready), percentiles(baseline)
    rows: list[dict[str, Any]] = [
        {"system": "nautilusd", "metric": "crash_to_respawn_ms", **ours},
        {"system": "nautilusd", "metric": "crash_to_ready_ms", **ours_ready},
        {"system": "supervisord", "metric": "crash_to_respawn_ms", **theirs},
        {"system": "ratio", "metric": "supervisord_p50 / nautilusd_p50",
         "p50": round(theirs["p50"] / ours["p50"], 1)},
    ]
    summary = {
        "nautilusd_respawn_p50_ms": ours["p50"], "nautilusd_respawn_p99_ms": ours["p99"],
        "nautilusd_ready_p50_ms": ours_ready["p50"], "nautilusd_ready_p99_ms": ours_ready["p99"],
        "supervisord_respawn_p50_ms": theirs["p50"],
    }
    return emit("restart", rows, summary, args.json)


if __name__ == "__main__":
    sys.exit(main())
