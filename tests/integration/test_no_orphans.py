"""No engine outlives nautilusd or its forkserver: a Python engine, an exec'd program, an
exec'd program run as another user, an exec'd program's own child and a child that left the
engine's process group (setsid) are all gone within 2 s of a SIGKILL of the forkserver, and
again of nautilusd itself, 20 times in a row.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest
from _ctl_daemon import Daemon, engine_toml
from daemon_helpers import gone

ROUNDS = 20
EXEC = """
[engines.{name}]
command = {command}
cpus = [0]
{extra}
"""
ENGINES = (engine_toml("alpha", (0,)) + engine_toml("beta", (1,))
           + EXEC.format(name="ex", command='["/bin/sleep", "300"]', extra="")
           + EXEC.format(name="usr", command='["/bin/sleep", "301"]', extra='user = "nobody"')
           + EXEC.format(name="kid", command='["/bin/sh", "-c", "/bin/sleep 302 & wait"]',
                         extra="")
           + EXEC.format(name="esc", command='["/bin/sh", "-c", "setsid /bin/sleep 303 & wait"]',
                         extra=""))
SLEEPERS = 4  # ex, usr, kid's child and esc's child (in a session of its own)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a user = engine"),
]


def _tree(daemon: Daemon) -> tuple[int, list[int]]:
    """The forkserver's pid and every process below it (engines and their children)."""
    children = psutil.Process(daemon.proc.pid).children()
    server = next(p for p in children if "nautilusd.forkserver" in " ".join(p.cmdline()))
    below = [p.pid for p in server.children(recursive=True)]
    return server.pid, below


def _wait_engines(daemon: Daemon, old: set[int]) -> list[int]:
    """Every engine READY with a new pid, the exec'd engine's child running; the tree."""
    def ready() -> list[int] | None:
        pids = daemon.pids()
        if not daemon.all_ready() or set(pids.values()) & old:
            return None
        _, below = _tree(daemon)
        sleepers = [p for p in below if psutil.Process(p).name() == "sleep"]
        return below if len(sleepers) >= SLEEPERS else None
    result: list[int] = daemon.wait_for(ready, timeout_s=30)
    return result


def test_sigkill_of_forkserver_then_nautilusd_leaves_no_engine_alive_20_times(
        tmp_path: Path, runtime_dir: Path, shm_dir: Path) -> None:
    """Each round: a fresh daemon; SIGKILL its forkserver, every engine process (of every
    kind) is gone within 2 s; the engines come back; SIGKILL nautilusd, all gone in 2 s."""
    for round_no in range(ROUNDS):
        daemon = Daemon(tmp_path, runtime_dir, shm_dir, ENGINES)
        try:
            first = _wait_engines(daemon, set())
            server, _ = _tree(daemon)
            os.kill(server, signal.SIGKILL)
            assert gone(first, 2.0), f"round {round_no}: engines outlived the forkserver"
            second = _wait_engines(daemon, set(first))
            server, _ = _tree(daemon)
            daemon.proc.kill()
            daemon.proc.wait(10)
            assert gone([server, *second], 2.0), f"round {round_no}: outlived nautilusd"
        finally:
            daemon.stop()
            for leftover in shm_dir.iterdir():  # the SIGKILLed daemon's segments
                leftover.unlink()
