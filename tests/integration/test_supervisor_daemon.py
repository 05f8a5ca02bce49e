"""`nautilusd run` as a real subprocess: refusal of bad cores, pinning, clean and dirty exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import psutil
import pytest
from daemon_helpers import gone, start_daemon, status_rows, stop, wait_ready, write_config

from nautilusd import paths


@pytest.mark.timeout(30)
def test_run_when_core_missing_refuses_with_clear_error(shm_dir, runtime_dir):
    """A config asking for a core the host lacks is refused (exit 2) naming key and value."""
    missing = max(os.sched_getaffinity(0)) + 64
    config = write_config(runtime_dir, shm_dir, {"risk": [0, missing]})
    result = subprocess.run(
        [sys.executable, "-m", "nautilusd.main", "run", "--config", str(config),
         "--runtime-dir", str(runtime_dir / "rt")], capture_output=True, text=True, timeout=20,
    )
    assert result.returncode == 2
    assert "engines.risk.cpus" in result.stderr and str(missing) in result.stderr
    assert not list(shm_dir.iterdir())


@pytest.mark.timeout(40)
def test_run_when_engines_pinned_affinity_matches_config_from_outside(shm_dir, runtime_dir):
    """Every engine runs on exactly the cores its config names (checked with psutil)."""
    wanted = {"md": [0], "risk": [1], "both": [0, 1]}
    proc = start_daemon(write_config(runtime_dir, shm_dir, wanted), runtime_dir)
    try:
        ready = wait_ready(shm_dir, set(wanted), proc)
        for name, cpus in wanted.items():
            assert sorted(psutil.Process(ready[name]).cpu_affinity()) == cpus, name
    finally:
        assert stop(proc) == 0


@pytest.mark.timeout(40)
def test_sigterm_when_running_stops_engines_and_removes_segments(shm_dir, runtime_dir):
    """SIGTERM: ordered shutdown, exit 0, no engine within 2 s, no segment left."""
    proc = start_daemon(write_config(runtime_dir, shm_dir, {"a": [0], "b": [1]}), runtime_dir)
    ready = wait_ready(shm_dir, {"a", "b", "sidecar"}, proc)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert gone(list(ready.values()), 2.0)
    assert time.monotonic() - started < 2.0
    assert proc.wait(timeout=10) == 0
    assert not list(shm_dir.iterdir())


@pytest.mark.timeout(40)
def test_ring_when_engine_crashes_outlives_it_and_goes_at_shutdown(shm_dir, runtime_dir):
    """A ring is created before its engines, survives a reader's crash, and is removed at exit."""
    proc = start_daemon(write_config(runtime_dir, shm_dir, {"a": [0], "b": [1]}), runtime_dir)
    try:
        ready = wait_ready(shm_dir, {"a", "b"}, proc)
        ring = shm_dir / paths.ring_segment("itest", "data")
        inode = ring.stat().st_ino
        os.kill(ready["b"], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while wait_ready(shm_dir, {"b"}, proc)["b"] == ready["b"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert ring.stat().st_ino == inode
    finally:
        assert stop(proc) == 0
    assert not list(shm_dir.iterdir())


@pytest.mark.timeout(40)
def test_ring_when_reader_restarts_records_keep_flowing(shm_dir, runtime_dir):
    """Records go writer -> ring -> reader through the runner; a restarted reader resumes."""
    params = {"a": "{ produce_per_s = 500 }", "b": "{ forward = true }"}
    proc = start_daemon(write_config(runtime_dir, shm_dir, {"a": [0], "b": [1]}, params=params),
                        runtime_dir)
    try:
        ready = wait_ready(shm_dir, {"a", "b"}, proc)
        until(lambda: status_rows(shm_dir)["b"]["records_in"] > 50)
        os.kill(ready["b"], signal.SIGKILL)
        until(lambda: status_rows(shm_dir)["b"]["pid"] not in (0, ready["b"]))
        consumed = status_rows(shm_dir)["b"]["records_in"]  # counters live in the slot
        until(lambda: status_rows(shm_dir)["b"]["records_in"] > consumed + 50)
        rows = status_rows(shm_dir)
        assert rows["a"]["pid"] == ready["a"]  # the writer never noticed
    finally:
        assert stop(proc) == 0


def until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.mark.timeout(60)
def test_sigkill_when_daemon_killed_engines_die_and_next_start_reclaims(shm_dir, runtime_dir):
    """SIGKILL of nautilusd takes every engine with it; the next start reclaims its segments."""
    config = write_config(runtime_dir, shm_dir, {"a": [0], "b": [1]})
    proc = start_daemon(config, runtime_dir)
    ready = wait_ready(shm_dir, {"a", "b", "sidecar"}, proc)
    helpers = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    proc.kill()
    proc.wait(timeout=5)
    assert gone(list(ready.values()) + helpers, 2.0)
    assert list(shm_dir.iterdir())  # the dead daemon's segments are still there ...
    again = start_daemon(config, runtime_dir)
    try:
        wait_ready(shm_dir, {"a", "b", "sidecar"}, again)
    finally:
        assert stop(again) == 0
    assert not list(shm_dir.iterdir())  # ... and gone after the next start and clean stop
    log = (runtime_dir / "daemon.log").read_text()
    assert "reclaimed_stale_segments" in log


@pytest.mark.timeout(40)
def test_run_when_instance_already_running_refuses_and_leaves_it_alone(shm_dir, runtime_dir):
    """A second nautilusd of the same instance exits 1 naming the live one; the first runs on."""
    config = write_config(runtime_dir, shm_dir, {"a": [0]})
    first = start_daemon(config, runtime_dir)
    try:
        ready = wait_ready(shm_dir, {"a"}, first)
        second = subprocess.run(
            [sys.executable, "-m", "nautilusd.main", "run", "--config", str(config),
             "--runtime-dir", str(runtime_dir / "rt2")], capture_output=True, text=True,
            timeout=20,
        )
        assert second.returncode == 1 and "already running" in second.stderr
        assert str(first.pid) in second.stderr
        assert wait_ready(shm_dir, {"a"}, first)["a"] == ready["a"]
    finally:
        assert stop(first) == 0
    assert not list(shm_dir.iterdir())
