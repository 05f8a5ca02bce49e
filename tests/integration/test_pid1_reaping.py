"""nautilusd as PID 1 of a pid namespace (a container) reaps the orphans that reach it: after
a forkserver SIGKILL its dead engines and their helpers are no zombies, and it stops cleanly.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
from _ctl_daemon import config_toml, engine_toml

from nautilusd.ctl.client import ControlClient

BIN = Path(sys.executable).parent
pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                       reason="needs root and unshare for a pid namespace"),
]
EXEC = '\n[engines.kid]\ncommand = ["/bin/sh", "-c", "/bin/sleep 300 & wait"]\ncpus = [0]\n'


def _nautilusd(unshare: subprocess.Popen[bytes]) -> psutil.Process:
    """nautilusd as seen from outside: unshare's child (PID 1 inside)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        kids = psutil.Process(unshare.pid).children()
        if kids:
            return kids[0]
        time.sleep(0.05)  # polling a condition with a deadline
    raise AssertionError("nautilusd did not start in its pid namespace")


def _engines(endpoint: str) -> dict[str, str] | None:
    try:
        with ControlClient(endpoint, timeout_ms=2000) as client:
            return {e["name"]: e["state"] for e in client.request("status")["engines"]}
    except Exception:  # not listening yet
        return None


def _wait(condition: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)  # polling a condition with a deadline
    return False


def _zombies(proc: psutil.Process) -> list[int]:
    return [c.pid for c in proc.children() if c.status() == psutil.STATUS_ZOMBIE]


def test_pid1_when_forkserver_killed_reaps_dead_engines_and_stops_cleanly(
        tmp_path: Path, runtime_dir: Path, shm_dir: Path) -> None:
    """The forkserver's engines come to PID 1 when it is SIGKILLed and die there within 2 s;
    once they are back READY none of the dead is left a zombie; SIGTERM ends it with 0."""
    config = tmp_path / "nautilusd.toml"
    config.write_text(config_toml(shm_dir, engine_toml("alpha", (0,)) + EXEC,
                                  f"pid1-{uuid.uuid4().hex[:8]}", ring=False))
    endpoint = f"ipc://{runtime_dir}/control.sock"
    with (tmp_path / "daemon.log").open("wb") as log:
        unshare = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
             str(BIN / "nautilusd"), "run", "--config", str(config), "--runtime-dir",
             str(runtime_dir)],
            stdout=log, stderr=subprocess.STDOUT)
        try:
            daemon = _nautilusd(unshare)
            ready = lambda: (e := _engines(endpoint)) and set(e.values()) == {"READY"}  # noqa: E731
            assert _wait(ready, 60), (tmp_path / "daemon.log").read_text()[-2000:]
            server = next(c for c in daemon.children()
                          if "nautilusd.forkserver" in " ".join(c.cmdline()))
            engines = server.children()
            os.kill(server.pid, signal.SIGKILL)
            assert _wait(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE
                                         for p in engines), 2.0), "engines outlived"
            assert _wait(ready, 60), "engines not back after the forkserver's death"
            # Reaped once the loop runs again (it waits for the new forkserver's hello).
            assert _wait(lambda: not _zombies(daemon), 5.0), f"zombies: {_zombies(daemon)}"
            daemon.send_signal(signal.SIGTERM)  # PID 1 gets the signals it handles
            assert unshare.wait(30) == 0, (tmp_path / "daemon.log").read_text()[-2000:]
        finally:
            if unshare.poll() is None:
                unshare.kill()
                unshare.wait()
                for leftover in shm_dir.iterdir():  # a killed daemon's segments
                    leftover.unlink()
