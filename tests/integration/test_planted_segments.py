"""Segments planted by another uid (nobody) at an instance's names never reach a real nautilusd.

In a shared sticky directory (what `/dev/shm` is) the planted ring and status segments are
refused at start with an error naming their owner and mode; with the default private
segment directory the planted names are never looked at, and the engines see none of the
planted records.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _ctl_daemon import BIN, Daemon, config_toml, engine_toml

from nautilusd import paths
from shm import Ring, RingWriter
from shm.layout import record_dtype
from shm.segment import OFF_OWNER_PID, OFF_OWNER_START_TICKS
from shm.status import StatusTable

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to plant files as another uid"),
]
OTHER_UID = pwd.getpwnam("nobody").pw_uid
PLANTED_RECORDS = 496
ENGINES = (engine_toml("alpha", (0,)) + engine_toml("beta", (1,))
           + "[engines.beta.params]\nforward = true\n" + engine_toml("gamma", (0,)))


def _plant(directory: Path, instance: str) -> None:
    """As uid nobody, in a forked child: a ring with PLANTED_RECORDS published and a status
    table naming pid 1 as its owner, both with the instance's names, mode 0666."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            os.setgid(OTHER_UID)
            os.setuid(OTHER_UID)
            ring = Ring.create(paths.ring_segment(instance, "r1"), record_dtype("tick"), 1024,
                               "overwrite", directory=directory, readers=1)
            writer = RingWriter.attach(ring.name, record_dtype("tick"), directory=directory)
            view = writer.claim(PLANTED_RECORDS)
            view.view(np.uint8)[:] = 7
            writer.publish()
            table = StatusTable.create(paths.status_segment(instance), 64, directory=directory)
            table.segment.words[OFF_OWNER_START_TICKS // 8] = 0
            table.segment.words[OFF_OWNER_PID // 8] = 1
            for planted in directory.glob(f"{paths.segment_prefix(instance)}*"):
                os.chmod(planted, 0o666)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "planting as nobody failed"


def _unlink_planted(directory: Path, instance: str) -> None:
    for planted in directory.glob(f"{paths.segment_prefix(instance)}*"):
        planted.unlink()


@pytest.fixture
def shared_dir(shm_dir: Path) -> Iterator[Path]:
    """The test's shm dir opened up like /dev/shm: sticky, world-writable, root's."""
    os.chmod(shm_dir, 0o1777)
    yield shm_dir
    os.chmod(shm_dir, 0o700)


def _run(config: Path, runtime_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "nautilusd"), "run", "--config", str(config),
                           "--runtime-dir", str(runtime_dir)], capture_output=True, text=True,
                          timeout=60, check=False)


def test_run_when_other_uid_planted_segments_in_shared_dir_refuses_naming_owner_and_mode(
        shared_dir: Path, runtime_dir: Path, tmp_path: Path) -> None:
    """The planted status table (naming pid 1) and then the planted ring are each refused
    before any engine starts, the error naming path, owner and mode; neither is modified."""
    instance = f"plant-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "nautilusd.toml"
    config.write_text(config_toml(shared_dir, ENGINES, instance))
    _plant(shared_dir, instance)
    status_path = shared_dir / paths.status_segment(instance)
    ring_path = shared_dir / paths.ring_segment(instance, "r1")
    try:
        first = _run(config, runtime_dir)
        assert first.returncode == 1, first.stderr
        assert f"refusing {status_path}" in first.stderr
        assert "owner nobody(65534), mode 0666" in first.stderr
        assert "already running" not in first.stderr
        status_path.unlink()
        second = _run(config, runtime_dir)
        assert second.returncode == 1, second.stderr
        assert f"refusing {ring_path}" in second.stderr
        assert "owner nobody(65534), mode 0666" in second.stderr
        assert "daemon_started" not in first.stdout + second.stdout  # no engine ever ran
        st = ring_path.stat()
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (OTHER_UID, 0o666)
    finally:
        _unlink_planted(shared_dir, instance)


def test_run_with_default_segment_dir_ignores_planted_names_and_no_record_reaches_engines(
        runtime_dir: Path, tmp_path: Path) -> None:
    """Planted 0666 segments at the instance's names in /dev/shm itself are never opened:
    the default segment directory is private, the engines start and read nothing."""
    instance = f"plant-{uuid.uuid4().hex[:8]}"
    shm_root = Path("/dev/shm")
    private = paths.default_shm_dir()
    made_here = not private.exists()  # the daemon makes it; the test leaves no dir behind
    _plant(shm_root, instance)
    daemon = None
    try:
        text = config_toml(shm_root, ENGINES, instance).replace(f'shm_dir = "{shm_root}"\n', "")
        (tmp_path / "nautilusd.toml").write_text(text)
        daemon = _DefaultDirDaemon(tmp_path, runtime_dir, instance)
        st = private.lstat()
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (os.geteuid(), 0o700)
        rings = {r["name"]: r for r in daemon.status()["rings"]}
        assert rings["r1"]["cursor"] == 0
        assert daemon.engines()["beta"]["counters"]["records_in"] == 0
        planted = shm_root / paths.ring_segment(instance, "r1")
        assert planted.stat().st_uid == OTHER_UID  # untouched, not adopted
    finally:
        if daemon is not None:
            assert daemon.stop() == 0
        _unlink_planted(shm_root, instance)
        if made_here:
            private.rmdir()  # fails if a segment of the run was left in it


class _DefaultDirDaemon(Daemon):
    """A Daemon whose config (already written) leaves shm_dir at its default."""

    def __init__(self, tmp: Path, runtime_dir: Path, instance: str) -> None:
        self._instance = instance
        super().__init__(tmp, runtime_dir, paths.default_shm_dir(), ENGINES)

    def write_config(self, filename: str, engines: str) -> Path:
        self.instance = self._instance
        return self.tmp / filename
