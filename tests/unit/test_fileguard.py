"""Segments, doorbells and directories are trusted only when they are ours alone."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from shm.doorbell import Doorbell
from shm.errors import UnsafeFileError
from shm.fileguard import ensure_dir
from shm.liveness import process_alive, process_start_ticks
from shm.segment import KIND_RING, Segment

pytestmark = pytest.mark.timeout(30)
NOBODY = 65534


def _create(directory: Path, name: str) -> Segment:
    return Segment.create(name, kind=KIND_RING, fingerprint=1, capacity=8, record_size=8,
                          directory=directory)


def _attach(directory: Path, name: str) -> Segment:
    return Segment.attach(name, kind=KIND_RING, fingerprint=1, directory=directory)


def test_create_when_name_is_symlink_to_live_segment_refuses_and_leaves_target(shm_dir):
    """A link planted at one segment's name never makes creating it retire another one."""
    with _create(shm_dir, "victim") as victim:
        (shm_dir / "other").symlink_to(shm_dir / "victim")
        with pytest.raises(UnsafeFileError, match="a symlink"):
            _create(shm_dir, "other")
        assert not victim.stale()
        (shm_dir / "other").unlink()


def test_attach_when_segment_mode_opened_or_hard_linked_refuses(shm_dir):
    """A 0666 segment, or one with a second link, is refused naming its mode and links."""
    with _create(shm_dir, "seg"):
        os.chmod(shm_dir / "seg", 0o666)
        with pytest.raises(UnsafeFileError, match="mode 0666"):
            _attach(shm_dir, "seg")
        os.chmod(shm_dir / "seg", 0o600)
        os.link(shm_dir / "seg", shm_dir / "alias")
        with pytest.raises(UnsafeFileError, match=r"hard-linked.*2 links"):
            _attach(shm_dir, "seg")
        (shm_dir / "alias").unlink()
        _attach(shm_dir, "seg").close()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown")
def test_attach_when_segment_owned_by_other_uid_refuses_naming_owner(shm_dir):
    """Another uid's file at our name is never mapped."""
    with _create(shm_dir, "seg"):
        os.chown(shm_dir / "seg", NOBODY, NOBODY)
        with pytest.raises(UnsafeFileError, match=r"owner nobody\(65534\)"):
            _attach(shm_dir, "seg")


def test_doorbell_when_path_is_symlink_or_regular_file_refuses(shm_dir):
    """A doorbell is opened only as our own FIFO, never through a link."""
    (shm_dir / "target").write_bytes(b"")
    (shm_dir / "a.bell").symlink_to(shm_dir / "target")
    with pytest.raises(UnsafeFileError, match="symlink"):
        Doorbell(shm_dir / "a.bell")
    for leftover in ("a.bell", "target"):
        (shm_dir / leftover).unlink()
    bell = Doorbell(shm_dir / "b.bell")
    bell.close()
    (shm_dir / "b.bell").unlink()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown")
def test_ensure_dir_when_planted_by_other_uid_refuses(shm_dir):
    """A directory someone else made at our predictable name is refused, not used."""
    planted = shm_dir / "nautilusd-0"
    planted.mkdir(mode=0o700)
    os.chown(planted, NOBODY, NOBODY)
    with pytest.raises(UnsafeFileError, match=r"not owned by uid 0.*owner nobody"):
        ensure_dir(planted)
    planted.rmdir()
    made = ensure_dir(shm_dir / "a" / "b")
    assert made.is_dir() and oct(made.stat().st_mode & 0o777) == "0o700"
    (shm_dir / "a" / "b").rmdir(), (shm_dir / "a").rmdir()


def test_process_alive_when_zombie_is_false():
    """An exited but unreaped process is dead for every liveness check."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os._exit(0)
    try:
        ticks = process_start_ticks(pid)
        deadline = time.monotonic() + 10
        while process_alive(pid, ticks) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert not process_alive(pid, ticks)
        assert process_start_ticks(pid) == ticks  # still there, as a zombie
    finally:
        os.waitpid(pid, 0)
    assert process_alive(os.getpid(), 0)
    assert not process_alive(0, 0)
