"""Unit tests of shm.segment: create 0600, attach validation, stale reclaim, the platform check."""

from __future__ import annotations

import multiprocessing as mp
import os
import stat
import struct
from pathlib import Path

import pytest

from shm import AttachError, SegmentExistsError, SegmentNotFoundError, UnsupportedPlatformError
from shm.platform import check_memory_model
from shm.segment import KIND_RING, KIND_STATUS, Segment, reclaim_stale

pytestmark = pytest.mark.timeout(30)


def _create(shm_dir: Path, name: str = "seg", **kw: int) -> Segment:
    args = {"kind": KIND_RING, "fingerprint": 7, "capacity": 16, "record_size": 64} | kw
    return Segment.create(name, directory=shm_dir, **args)


def test_create_when_called_makes_0600_file_with_page_aligned_body(shm_dir: Path) -> None:
    """A new segment is a 0600 file whose body starts on a page boundary."""
    with _create(shm_dir, control_blocks=3) as seg:
        assert stat.S_IMODE(os.stat(seg.path).st_mode) == 0o600
        assert seg.header.data_offset % 4096 == 0 and len(seg.body()) == 16 * 64
        assert seg.header.owner_pid == os.getpid() and seg.epoch == 1


@pytest.mark.parametrize(
    ("field", "kwargs", "expected", "found"),
    [
        ("capacity", {"capacity": 32}, 32, 16),
        ("record size", {"record_size": 32}, 32, 64),
        ("dtype fingerprint", {"fingerprint": 8}, "0x8", "0x7"),
        ("kind", {"kind": KIND_STATUS}, KIND_STATUS, KIND_RING),
    ],
)
def test_attach_when_field_differs_raises_naming_segment_and_both_values(
    shm_dir: Path, field: str, kwargs: dict[str, int], expected: object, found: object
) -> None:
    """Attach refuses a mismatch and names the segment, the field and both values."""
    with _create(shm_dir):
        args = {"kind": KIND_RING, "fingerprint": 7, "capacity": 16, "record_size": 64} | kwargs
        with pytest.raises(AttachError) as info:
            Segment.attach("seg", directory=shm_dir, **args)
        err = info.value
        assert (err.segment, err.field, err.expected, err.found) == ("seg", field, expected, found)
        assert "'seg'" in str(err) and repr(expected) in str(err)


@pytest.mark.parametrize(("offset", "field"), [(0, "magic"), (8, "layout version")])
def test_attach_when_header_corrupted_raises(shm_dir: Path, offset: int, field: str) -> None:
    """A damaged magic or version is refused by name."""
    with _create(shm_dir) as seg:
        with open(seg.path, "r+b") as f:
            f.seek(offset)
            f.write(struct.pack("<I", 99))
        with pytest.raises(AttachError, match=field):
            Segment.attach("seg", kind=KIND_RING, directory=shm_dir)


def test_attach_when_missing_raises_not_found(shm_dir: Path) -> None:
    """Attaching a name that does not exist says so."""
    with pytest.raises(SegmentNotFoundError, match="'nope'"):
        Segment.attach("nope", kind=KIND_RING, directory=shm_dir)


def _create_and_die(directory: str) -> None:
    _create(Path(directory))
    os._exit(0)


def test_create_when_owner_dead_reclaims_stale_segment(shm_dir: Path) -> None:
    """A segment left by a dead owner is reclaimed with a bumped epoch."""
    child = mp.get_context("fork").Process(target=_create_and_die, args=(str(shm_dir),))
    child.start(), child.join(10)
    with _create(shm_dir) as seg:
        assert seg.epoch == 2


def test_create_when_owner_alive_raises_exists(shm_dir: Path) -> None:
    """A segment whose owner is another live process is not taken over."""
    ctx = mp.get_context("fork")
    ready, done = ctx.Event(), ctx.Event()

    def own() -> None:
        seg = _create(shm_dir)
        ready.set()
        done.wait(10)
        seg.unlink()

    child = ctx.Process(target=own)
    child.start()
    try:
        assert ready.wait(10)
        with pytest.raises(SegmentExistsError, match=f"owner pid {child.pid} is alive"):
            _create(shm_dir)
    finally:
        done.set(), child.join(10)


def test_reclaim_stale_when_owner_dead_removes_segment_and_doorbells(shm_dir: Path) -> None:
    """reclaim_stale unlinks a dead owner's segment and its FIFOs without blocking on them."""
    child = mp.get_context("fork").Process(target=_create_and_die, args=(str(shm_dir),))
    child.start(), child.join(10)
    os.mkfifo(shm_dir / "seg.r0.bell", 0o600)
    assert reclaim_stale("seg", shm_dir) == ["seg", "seg.r0.bell"]


def test_check_memory_model_when_not_tso_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    """A weakly ordered CPU is refused by name unless the override is set."""
    monkeypatch.delenv("NAUTILUSD_UNSAFE_MEMORY_ORDER", raising=False)
    assert check_memory_model("x86_64") == "x86_64"
    with pytest.raises(UnsupportedPlatformError, match="'aarch64'"):
        check_memory_model("aarch64")
