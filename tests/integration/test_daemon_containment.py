"""A real nautilusd keeps supervising through a refused command and a failed spawn.

`scale` past the status slots is refused whole (topology unchanged) and a later engine kill
is handled as usual; a spawn that fails with OSError (a spec too big for one forkserver
message) leaves no pid 0 behind to signal, and the daemon still shuts down cleanly.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from _ctl_daemon import Daemon, config_toml, engine_toml

from nautilusd.ctl.client import ControlError

pytestmark = pytest.mark.timeout(90)
ENGINES = engine_toml("alpha", (0,)) + engine_toml("beta", (1,)) + engine_toml("gamma", (0,))


class _SlotsDaemon(Daemon):
    """A Daemon whose config has `extra` appended to [supervisor]."""

    extra = "status_slots = 4\n"

    def write_config(self, filename: str, engines: str) -> Path:
        path = self.tmp / filename
        text = config_toml(self.shm_dir, engines, self.instance)
        path.write_text(text.replace("[supervisor]\n", "[supervisor]\n" + self.extra, 1))
        return path


def test_scale_when_past_status_slots_refused_topology_unchanged_and_kill_handled(
        tmp_path, runtime_dir, shm_dir):
    """Two new replicas with one free slot: refused naming the slots; then killing an
    engine restarts it and the daemon stays up."""
    daemon = _SlotsDaemon(tmp_path, runtime_dir, shm_dir, ENGINES)
    try:
        before = daemon.engines()
        with pytest.raises(ControlError, match="need a status slot, 1 free of status_slots = 4"):
            daemon.request("scale", engine="gamma", n=3)
        assert sorted(daemon.engines()) == sorted(before)
        old = before["gamma"]["pid"]
        os.kill(old, signal.SIGKILL)
        daemon.wait_for(lambda: (e := daemon.engines()["gamma"])["state"] == "READY"
                        and e["pid"] not in (None, old))
        assert daemon.all_ready() and daemon.proc.poll() is None
    finally:
        assert daemon.stop() == 0


def test_spawn_when_spec_too_big_fails_without_signalling_pid_zero_and_shutdown_ends(
        tmp_path, runtime_dir, shm_dir):
    """An engine whose spec exceeds one forkserver message never gets pid 0 signalled;
    stopping it and shutting the daemon down both finish."""
    big = engine_toml("big", (0,)) + f'[engines.big.environment]\nPAD = "{"x" * 300_000}"\n'
    # Not every engine will be READY (big never is): started once the daemon lists big.
    daemon = Daemon(tmp_path, runtime_dir, shm_dir, ENGINES + big, started=_answers)

    def big_failed() -> bool:
        e = daemon.engines()["big"]
        return e["pid"] is None and e["state"] in ("BACKOFF", "FATAL", "STARTING", "EXITED")

    try:
        daemon.wait_for(big_failed)
        daemon.wait_for(lambda: "spawn_failed" in daemon.read_log())
        daemon.request("stop", target="big")
        daemon.wait_for(lambda: daemon.engines()["big"]["state"] == "STOPPED")
        assert daemon.proc.poll() is None
    finally:
        assert daemon.stop() == 0


def _answers(daemon: Daemon) -> bool:
    try:
        return "big" in daemon.engines()
    except Exception:
        return False
