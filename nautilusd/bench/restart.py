"""`nautilusctl bench restart`: crash -> respawn and crash -> ready, nautilusd vs supervisord.

Both run the same Python engine (engines.reference). Under nautilusd we SIGKILL it N times:
each kill is timed from just before kill() to the bus events of that pid (exited, the
restart decision) and of the new pid and generation (spawned, ready), stale events drained
first and skipped (nautilusd.bench.restart_events), and the status table must then name
the same new process READY. Each step is reported twice: on arrival here, and by the
daemon's own CLOCK_MONOTONIC stamp in the event. Then an outside checker (another process
with its own subscription and matching, nautilusd.bench.restart_outside) kills it as many
times again; its medians are reported beside the bench's with the ratio between them, and
`--check-agreement` fails the run when they are more than 2x apart. Under a real
supervisord (autorestart=true, defaults otherwise) we SIGKILL it and watch the process
table for the new pid. Kills are isolated crashes: each comes after the engine has been up
longer than its restart window.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import psutil

from nautilusd import paths
from nautilusd.bench.report import emit, percentiles
from nautilusd.bench.restart_events import STEPS, KillTiming, ZmqFeed, time_kill
from nautilusd.paths import scratch_id
from nautilusd.states import State
from shm.errors import ShmError
from shm.status import W_GENERATION, W_PID, W_STATE, StatusSlot, StatusTable

POLL_S = 0.0002
MAX_DISAGREEMENT = 2.0  # bench vs outside checker, p50 over p50
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


def measure_nautilusd(n: int, workdir: Path) -> tuple[list[KillTiming], dict[str, list[float]]]:
    """SIGKILL the engine `n` times; each kill's events matched to its processes. Then the
    outside checker (nautilusd.bench.restart_outside, its own process) kills it `n` times
    more against the same daemon; its figures come second."""
    shm_dir = Path("/dev/shm") / f"nautilusd-bench-{scratch_id(8)}"
    shm_dir.mkdir(mode=0o700)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "nautilusd.main", "run", "--config",
         str(_nautilusd_config(workdir, shm_dir)), "--runtime-dir", str(workdir / "rt")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        timings = _kill_loop(n, shm_dir, daemon, workdir / "rt")
        return timings, _outside(workdir / "rt", timings[-1].new_pid, n)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        shutil.rmtree(shm_dir, ignore_errors=True)


def _kill_loop(n: int, shm_dir: Path, daemon: subprocess.Popen[bytes], runtime_dir: Path
               ) -> list[KillTiming]:
    segment = shm_dir / paths.status_segment(INSTANCE)
    table = _wait(lambda: _try_attach(segment), 30, "nautilusd status table")
    slot = table.slot(0)
    # Lifecycle events come from the daemon's bus: the bench sleeps in recv instead of
    # polling, so it does not steal the CPU it is measuring.
    feed = ZmqFeed(paths.bus_sub_endpoint(runtime_dir), "victim")
    timings = []
    try:
        _wait(lambda: slot.get(W_STATE) == State.READY.code or None, 30, "first ready")
        time.sleep(0.3)  # let the subscription reach the proxy
        for _ in range(n):
            time.sleep(0.06)  # longer than the restart window: an isolated crash
            feed.drain()  # whatever is queued is about an earlier process
            old, generation = slot.get(W_PID), slot.get(W_GENERATION)
            t0 = time.monotonic()
            os.kill(old, signal.SIGKILL)
            timing = time_kill(feed, old, generation, t0)
            _cross_check(slot, timing)
            timings.append(timing)
            if daemon.poll() is not None:
                raise RuntimeError(f"nautilusd exited with {daemon.returncode}")
    finally:
        feed.close()
        slot.release()
        table.close()
    return timings


def _outside(runtime_dir: Path, pid: int, n: int) -> dict[str, list[float]]:
    """The outside checker's exit-seen and ready times (ms) over `n` kills from `pid`."""
    done = subprocess.run(
        [sys.executable, "-m", "nautilusd.bench.restart_outside",
         paths.bus_sub_endpoint(runtime_dir), "victim", str(pid), "-n", str(n)],
        capture_output=True, text=True, timeout=60 + 2 * n, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"outside checker failed ({done.returncode}): {done.stderr[-500:]}")
    result: dict[str, list[float]] = json.loads(done.stdout)
    return result


def _agreement(ours: float, theirs: float) -> float:
    """How far apart two medians are, as the larger over the smaller (1.0 = the same)."""
    if min(ours, theirs) <= 0:
        return float("inf")
    return round(max(ours, theirs) / min(ours, theirs), 2)


def _cross_check(slot: StatusSlot, timing: KillTiming) -> None:
    """The status table must name the process the ready event named, READY."""
    seen = (slot.get(W_PID), slot.get(W_GENERATION), slot.get(W_STATE))
    want = (timing.new_pid, timing.new_generation, State.READY.code)
    if seen != want:
        raise RuntimeError(f"status table says pid/generation/state {seen}, the bus {want}")


def _try_attach(segment: Path) -> StatusTable | None:
    try:
        return StatusTable.attach(segment.name, directory=segment.parent)
    except ShmError:  # not there yet, or its header is still being written
        return None


def _new_child(parent: psutil.Process, old: int) -> int | None:
    """The pid of `parent`'s child unless it is `old` (None until a new one runs)."""
    kids = parent.children()
    return kids[0].pid if kids and kids[0].pid != old else None


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


def _rows(timings: list[KillTiming], baseline: list[float]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for source in ("arrival", "daemon_stamp"):
        for step in STEPS:
            values = [v for t in timings if (v := (t.arrival_ms if source == "arrival"
                                                   else t.stamped_ms).get(step)) is not None]
            rows.append({"system": "nautilusd", "metric": f"kill_to_{step}_ms",
                         "clock": source, **percentiles(values)})
    rows.append({"system": "supervisord", "metric": "kill_to_respawn_ms", "clock": "arrival",
                 **percentiles(baseline)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nautilusctl bench restart", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer kills (< 90 s)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("-n", type=int, help="kills under nautilusd (default 100, quick 25)")
    parser.add_argument("--check-agreement", action="store_true",
                        help="exit 1 unless the bench and the outside checker agree within "
                             f"{MAX_DISAGREEMENT}x (exit seen and ready p50)")
    args = parser.parse_args(argv)
    n = args.n or (25 if args.quick else 100)
    n_supervisord = 5 if args.quick else 12
    with tempfile.TemporaryDirectory(prefix="nd-bench-", dir="/tmp") as tmp:
        timings, outside = measure_nautilusd(n, Path(tmp))
        baseline = measure_supervisord(n_supervisord, Path(tmp))
    rows = _rows(timings, baseline)
    for metric, key in (("kill_to_exited_ms", "exit_seen_ms"), ("kill_to_ready_ms", "ready_ms")):
        rows.append({"system": "outside_checker", "metric": metric, "clock": "arrival",
                     **percentiles(outside[key])})
    by = {(r["metric"], r["clock"]): r for r in rows if r["system"] == "nautilusd"}
    ours, ready = by[("kill_to_spawned_ms", "arrival")], by[("kill_to_ready_ms", "arrival")]
    theirs = percentiles(baseline)
    rows.append({"system": "ratio", "metric": "supervisord_p50 / nautilusd_p50",
                 "p50": round(theirs["p50"] / ours["p50"], 1)})
    summary = {
        "nautilusd_exit_seen_p50_ms": by[("kill_to_exited_ms", "arrival")]["p50"],
        "nautilusd_respawn_p50_ms": ours["p50"], "nautilusd_respawn_p99_ms": ours["p99"],
        "nautilusd_ready_p50_ms": ready["p50"], "nautilusd_ready_p99_ms": ready["p99"],
        "supervisord_respawn_p50_ms": theirs["p50"],
    }
    outside_exit, outside_ready = (percentiles(outside[k])["p50"]
                                   for k in ("exit_seen_ms", "ready_ms"))
    ratio = max(_agreement(summary["nautilusd_exit_seen_p50_ms"], outside_exit),
                _agreement(ready["p50"], outside_ready))
    summary.update(outside_exit_seen_p50_ms=outside_exit, outside_ready_p50_ms=outside_ready,
                   bench_vs_outside_max_ratio=ratio)
    if args.check_agreement and not ratio <= MAX_DISAGREEMENT:
        rows.append({"system": "outside_checker", "measure": "error",
                     "transport": "outside check", "error": f"bench and outside checker "
                     f"p50s differ {ratio}x (> {MAX_DISAGREEMENT}x)"})
    return emit("restart", rows, summary, args.json)


if __name__ == "__main__":
    sys.exit(main())
