"""Helpers to run `nautilusd run` as a real subprocess and watch it from outside (shm, psutil).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
import uuid
from pathlib import Path
from typing import Any

import psutil

from nautilusd import paths
from nautilusd.states import State
from shm.errors import ShmError
from shm.status import StatusTable

ROOT = Path(__file__).resolve().parents[2]
ENGINES = """
[engines.{name}]
entry = "engines.reference:ReferenceEngine"
cpus = {cpus}
liveness_timeout_ms = 1000
"""
RING = """
[rings.data]
record = "raw64"
capacity = 1024
policy = "block"
writer = "a"
readers = ["b"]
"""


def write_config(directory: Path, shm_dir: Path, engines: dict[str, list[int]],
                 instance: str = "itest", params: dict[str, str] | None = None) -> Path:
    text = (f'[supervisor]\ninstance = "{instance}"\nmetrics_address = ""\n'
            f'shm_dir = "{shm_dir}"\nshutdown_timeout_ms = 5000\n')
    for name, cpus in engines.items():
        text += ENGINES.format(name=name, cpus=cpus)
        if params and name in params:
            text += f"params = {params[name]}\n"
    text += '\n[engines.sidecar]\ncommand = ["/bin/sleep", "300"]\n'
    if {"a", "b"} <= set(engines):
        text += RING
    path = directory / "nautilusd.toml"
    path.write_text(text)
    return path


def default_config(prefix: str, shm_dir: Path, **supervisor: str) -> dict[str, Any]:
    """configs/default.toml as a document whose [supervisor] has a fresh instance
    `<prefix><6 hex>`, `shm_dir`, no metrics server and JSON logs at warning, then `supervisor`."""
    doc = tomllib.loads((ROOT / "configs" / "default.toml").read_text())
    doc["supervisor"].update(instance=f"{prefix}{uuid.uuid4().hex[:6]}", shm_dir=str(shm_dir),
                             metrics_address="", log_format="json", log_level="warning",
                             **supervisor)
    return doc


def run_nautilusd(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """`nautilusd run --config <config>` from the repo root in its own session, its output
    appended to `log` (closed here once the child holds it)."""
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "nautilusd.main", "run", "--config",
                                 str(config)], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                start_new_session=True)


def start_daemon(config: Path, runtime_dir: Path, env: dict[str, str] | None = None
                 ) -> subprocess.Popen[bytes]:
    log = open(runtime_dir / "daemon.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "nautilusd.main", "run", "--config", str(config),
         "--runtime-dir", str(runtime_dir / "rt")], stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )


def status_rows(shm_dir: Path, instance: str = "itest") -> dict[str, dict[str, int]]:
    """name -> the slot's words (pid, state, records_in, ...), read from outside."""
    with StatusTable.attach(paths.status_segment(instance), directory=shm_dir) as table:
        rows = table.snapshot()
    return {r["name"].decode(): {f: int(r[f]) for f in ("pid", "state", "records_in",
                                                       "records_out", "restarts")}
            for r in rows if r["name"]}


def wait_ready(shm_dir: Path, names: set[str], proc: subprocess.Popen[bytes],
               instance: str = "itest", timeout_s: float = 20.0) -> dict[str, int]:
    """Read the status table from outside until every engine in `names` is READY."""
    deadline = time.monotonic() + timeout_s
    segment = paths.status_segment(instance)
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"nautilusd exited with {proc.returncode}"
        try:
            with StatusTable.attach(segment, directory=shm_dir) as table:
                owner = table.segment.header.owner_pid
                rows = table.snapshot()
        except ShmError:  # not created yet, or its header is being written
            owner = 0
        if owner == proc.pid:  # not a dead predecessor's table
            ready = {r["name"].decode(): int(r["pid"]) for r in rows
                     if r["name"] and r["state"] == State.READY.code}
            if names <= set(ready):
                return ready
        time.sleep(0.02)
    raise AssertionError(f"engines {sorted(names)} not ready within {timeout_s} s")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def gone(pids: list[int], timeout_s: float) -> bool:
    """True once none of `pids` runs (zombies count as gone), within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.02)
    left = [(p, psutil.Process(p).ppid(), psutil.Process(p).status(),
             psutil.Process(p).cmdline()[-2:]) for p in pids if _alive(p)]
    print("still running:", left)
    return False


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=15)


def stop_or_kill(proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> int | None:
    """SIGTERM and wait for the drain; past `timeout_s` SIGKILL the daemon's whole session so
    nothing outlives the test. Returns the daemon's exit code (negative when killed)."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(5)
