"""`reload` against a real nautilusd: files that are not regular are refused at once, and
changes only a restart can apply are refused whole, while status keeps answering.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from _ctl_daemon import BIN, Daemon

from nautilusd.ctl.client import ControlError

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def daemon(tmp_path: Path, runtime_dir: Path, shm_dir: Path):
    with Daemon(tmp_path, runtime_dir, shm_dir) as d:
        yield d
    assert d.proc.returncode == 0  # it shut down cleanly when asked


def test_reload_when_fifo_or_dev_zero_refused_within_1s_and_status_answers(daemon, tmp_path):
    """Neither a FIFO nobody writes nor /dev/zero is read: each is refused in under a
    second naming what it is, and status answers before, between and after."""
    fifo = tmp_path / "config.fifo"
    os.mkfifo(fifo, 0o600)
    before = daemon.pids()
    for path, kind in ((fifo, "a FIFO"), (Path("/dev/zero"), "a character device")):
        started = time.monotonic()
        with pytest.raises(ControlError, match=f"not a regular file \\({kind}\\)"):
            daemon.request("reload", config=str(path))
        assert time.monotonic() - started < 1.0
        assert daemon.status()["daemon"]["health"] == "healthy"
    assert daemon.pids() == before


def test_reload_when_instance_changes_refused_naming_it(daemon):
    """A changed instance name needs a restart: refused, nothing applied."""
    text = daemon.config.read_text()
    changed = daemon.tmp / "changed.toml"
    changed.write_text(text.replace(f'instance = "{daemon.instance}"', 'instance = "other"'))
    with pytest.raises(ControlError, match=r"supervisor\.instance"):
        daemon.request("reload", config=str(changed))
    assert daemon.all_ready()


def test_reload_without_argument_when_started_with_relative_config_uses_absolute_path(
        tmp_path, runtime_dir, shm_dir):
    """The daemon remembers its config's absolute path: `nautilusctl reload` from another
    directory works after `nautilusd run --config ./relative.toml`."""
    d = Daemon.__new__(Daemon)
    d.tmp, d.runtime_dir, d.shm_dir = tmp_path, runtime_dir, shm_dir
    d.metrics_address = ""
    d.instance = f"rel-{os.urandom(4).hex()}"
    d.config = d.write_config("nautilusd.toml", _engines())
    d.endpoint = f"ipc://{runtime_dir}/control.sock"
    d.log = (tmp_path / "daemon.log").open("wb")
    d.proc = subprocess.Popen([str(BIN / "nautilusd"), "run", "--config", "nautilusd.toml",
                               "--runtime-dir", str(runtime_dir)], cwd=tmp_path,
                              stdout=d.log, stderr=subprocess.STDOUT)
    try:
        d.wait_for(d.all_ready, timeout_s=60)
        assert d.status()["daemon"]["config"] == str(tmp_path / "nautilusd.toml")
        done = d.ctl("reload", "--json")
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        assert d.stop() == 0


def _engines() -> str:
    from _ctl_daemon import DEFAULT_ENGINES

    return DEFAULT_ENGINES
