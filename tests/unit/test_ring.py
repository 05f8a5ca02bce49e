"""Unit tests of shm.ring: claim/publish, batches, the one-record path, policies, slots, stats."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import numpy as np
import pytest

from shm import (
    AttachError,
    ReaderSlotError,
    Ring,
    RingFullError,
    RingReader,
    RingWriter,
    ShmError,
    ring_stats,
)
from shm import reader as reader_module
from shm._fastpath import compare_and_swap
from shm.layout import RAW64, TICK

pytestmark = pytest.mark.timeout(30)


def _rec(i: int) -> bytes:
    return i.to_bytes(8, "little") * 8


def _ids(records: np.ndarray) -> list[int]:
    return [int(x) for x in records.view(np.uint8).reshape(-1, 64)[:, :8].copy().view("<u8")[:, 0]]


@pytest.fixture(params=["block", "overwrite"])
def ring(request: pytest.FixtureRequest, shm_dir: Path):
    r = Ring.create("r", RAW64, 8, request.param, max_readers=2, directory=shm_dir, readers=1)
    yield r
    r.destroy()


def _attach(shm_dir: Path, index: int = 0) -> tuple[RingWriter, RingReader]:
    return (RingWriter.attach("r", RAW64, directory=shm_dir),
            RingReader.attach("r", RAW64, index, directory=shm_dir))


def test_read_one_when_records_written_returns_them_in_order(ring: Ring, shm_dir: Path) -> None:
    """Records written one by one come back one by one, in order, then None."""
    w, r = _attach(shm_dir)
    for i in range(5):
        assert w.write_bytes(_rec(i))
    got = [int.from_bytes(bytes(r.read_one())[:8], "little") for _ in range(5)]  # type: ignore[arg-type]
    assert got == list(range(5))
    assert r.read_one() is None
    r.close(), w.close()


def test_claim_when_crossing_wrap_point_publishes_contiguous_batch(
    ring: Ring, shm_dir: Path
) -> None:
    """A claim that straddles the end of the ring is published whole, across the wrap."""
    w, r = _attach(shm_dir)
    w.write(np.zeros(6, RAW64))
    r.advance(len(r.read(6)))
    view = w.claim(5)
    view.view(np.uint8)[:] = np.frombuffer(b"".join(_rec(10 + i) for i in range(5)), np.uint8)
    w.publish()
    first = _ids(r.read(10))
    r.advance(len(first))
    second = _ids(r.read(10))
    assert first + second == [10, 11, 12, 13, 14] and len(first) == 2
    r.advance(len(second)), r.close(), w.close()


def test_try_claim_when_block_ring_full_returns_none_and_claim_raises(shm_dir: Path) -> None:
    """A full block ring refuses try_claim, and claim raises RingFullError naming the reader."""
    ring = Ring.create("r", RAW64, 4, "block", directory=shm_dir, readers=1)
    w, r = _attach(shm_dir)
    w.write(np.zeros(4, RAW64))
    assert w.try_claim(1) is None and not w.write_bytes(_rec(0))
    with pytest.raises(RingFullError, match=r"reader slot 0 .* 4 records behind"):
        w.claim(1, timeout_s=0.02)
    assert w.backpressure_waits == 1
    r.advance(1)
    assert w.try_claim(1) is not None
    r.close(), w.close(), ring.destroy()


def test_write_when_ring_fills_midway_reports_what_was_published(shm_dir: Path) -> None:
    """A multi-chunk write() that times out after its first chunk says how many of its
    records are published (readable: not to be written again)."""
    ring = Ring.create("r", RAW64, 4, "block", directory=shm_dir, readers=1)
    w, r = _attach(shm_dir)
    try:
        records = np.frombuffer(b"".join(_rec(i) for i in range(6)), RAW64)
        with pytest.raises(RingFullError, match="4 of the 6 records") as full:
            w.write(records, timeout_s=0.02)
        assert full.value.published == 4
        assert _ids(r.read(8)) == [0, 1, 2, 3]
    finally:
        r.close(), w.close(), ring.destroy()


def test_publish_after_write_publishes_nothing_stale(ring: Ring, shm_dir: Path) -> None:
    """write() leaves no claim pending: a publish() after it publishes no records."""
    w, r = _attach(shm_dir)
    try:
        w.write(np.frombuffer(_rec(1) + _rec(2), RAW64))  # overwrite: claims inside
        w.publish()
        assert r.available() == 2 and _ids(r.read(8)) == [1, 2]
    finally:
        r.close(), w.close()


def test_has_room_when_block_ring_fills_says_no_until_the_reader_moves(shm_dir: Path) -> None:
    """has_room(n) is true while n one-record writes cannot fail, whichever path wrote."""
    ring = Ring.create("r", RAW64, 4, "block", directory=shm_dir, readers=1)
    w, r = _attach(shm_dir)
    assert w.has_room(4) and not w.has_room(5)
    w.write(np.zeros(1, RAW64))
    assert w.write_bytes(_rec(1))
    assert w.has_room(2) and not w.has_room(3)
    for i in range(2):
        assert w.write_bytes(_rec(2 + i))
    assert not w.has_room(1) and not w.write_bytes(_rec(9))
    r.advance(len(r.read(3)))  # the cached gate is stale: has_room re-reads the cursors
    assert w.has_room(3) and not w.has_room(4)
    r.close(), w.close(), ring.destroy()


def test_has_room_when_overwrite_ring_full_says_yes(shm_dir: Path) -> None:
    """An overwrite writer never waits: any n up to the capacity fits."""
    ring = Ring.create("r", RAW64, 4, "overwrite", directory=shm_dir, readers=1)
    w, r = _attach(shm_dir)
    w.write(np.zeros(4, RAW64))
    assert w.has_room(4) and not w.has_room(5)
    r.close(), w.close(), ring.destroy()


def test_leave_when_reader_lags_unblocks_writer(shm_dir: Path) -> None:
    """A reader that leaves stops gating the writer."""
    ring = Ring.create("r", RAW64, 4, "block", directory=shm_dir, readers=1)
    w, r = _attach(shm_dir)
    w.write(np.zeros(4, RAW64))
    r.leave()
    assert w.write_bytes(_rec(1))
    w.close(), ring.destroy()


def _attach_and_exit(directory: str) -> None:
    RingReader.attach("r", RAW64, 1, directory=directory)
    os._exit(0)


def test_release_reader_when_reader_process_died_unblocks_writer(shm_dir: Path) -> None:
    """A reader whose process is gone keeps gating a block writer until the owner frees its
    slot (as nautilusd does for a FATAL reader of a non-critical group)."""
    ring = Ring.create("r", RAW64, 4, "block", max_readers=2, directory=shm_dir)
    w = RingWriter.attach("r", RAW64, directory=shm_dir)
    child = mp.get_context("fork").Process(target=_attach_and_exit, args=(str(shm_dir),))
    child.start(), child.join(10)
    w.write(np.zeros(4, RAW64))
    assert w.try_claim(1) is None and not w.write_bytes(_rec(0))
    ring.release_reader(1)
    assert w.write_bytes(_rec(0))
    w.close(), ring.destroy()


def test_attach_when_slot_held_by_live_process_raises(shm_dir: Path) -> None:
    """A second live process cannot take a reader slot that is in use."""
    ring = Ring.create("r", RAW64, 4, "block", directory=shm_dir)
    ctx = mp.get_context("fork")
    ready, done = ctx.Event(), ctx.Event()

    def hold() -> None:
        RingReader.attach("r", RAW64, 0, directory=shm_dir)
        ready.set()
        done.wait(10)

    child = ctx.Process(target=hold)
    child.start()
    try:
        assert ready.wait(10)
        with pytest.raises(ReaderSlotError, match=f"held by live pid {child.pid}"):
            RingReader.attach("r", RAW64, 0, directory=shm_dir)
    finally:
        done.set(), child.join(10)
        ring.destroy()


@pytest.mark.parametrize("was", ["free", "active"])
def test_attach_when_it_fails_after_joining_gives_the_slot_back(
        shm_dir: Path, monkeypatch: pytest.MonkeyPatch, was: str) -> None:
    """An attach that fails after its join (here: its doorbell) leaves no claim behind: a
    FREE slot is FREE again, an ACTIVE one keeps its committed cursor; neither keeps our pid."""
    ring = Ring.create("r", RAW64, 8, "block", directory=shm_dir, readers=1)
    try:
        if was == "free":
            ring.release_reader(0)
        before = ring_stats("r", shm_dir)["readers"][0]

        def no_bell(path: Path) -> None:
            raise OSError(f"no doorbell at {path}")

        monkeypatch.setattr(reader_module, "Doorbell", no_bell)
        with pytest.raises(OSError, match="no doorbell"):
            RingReader.attach("r", RAW64, 0, directory=shm_dir)
        after = ring_stats("r", shm_dir)["readers"][0]
        assert after["active"] == before["active"] == (was == "active")
        assert after["pid"] == 0 and after["cursor"] == before["cursor"]
    finally:
        ring.destroy()


@pytest.mark.skipif(compare_and_swap() is None, reason="compiled paths not built")
def test_compare_and_swap_when_word_differs_leaves_it_and_says_so() -> None:
    """The compiled claim: swapped only from the expected value; out-of-range words refused."""
    cas = compare_and_swap()
    assert cas is not None
    words = memoryview(bytearray(16)).cast("q")
    words[1] = 7
    assert not cas(words, 1, 0, 42) and words[1] == 7
    assert cas(words, 1, 7, 42) and words[1] == 42
    with pytest.raises(ValueError, match="word 2"):
        cas(words, 2, 0, 1)


def test_overwrite_when_reader_lapped_counts_lost_and_resyncs(shm_dir: Path) -> None:
    """An overwrite reader a full lap behind skips to the oldest intact record, counting."""
    ring = Ring.create("r", RAW64, 4, "overwrite", directory=shm_dir, readers=1)
    w, r = _attach(shm_dir)
    for i in range(11):
        w.write_bytes(_rec(i))
    got = _ids(r.read(10))
    assert got == [7] and r.lost == 7  # 8..10 follow after the wrap
    r.advance(1)
    assert _ids(r.read(10)) == [8, 9, 10]
    assert ring_stats("r", shm_dir)["readers"][0]["lost"] == 7
    r.close(), w.close(), ring.destroy()


def test_attach_when_reader_restarts_resumes_at_committed_cursor(ring: Ring, shm_dir: Path) -> None:
    """A reader that closes and re-attaches continues after its last committed record."""
    w, r = _attach(shm_dir)
    for i in range(6):
        w.write_bytes(_rec(i))
    r.advance(len(r.read(3)))
    r.close(), w.close()
    w, r = _attach(shm_dir)
    assert w.cursor == 6 and r.cursor == 3
    w.write_bytes(_rec(6))
    assert _ids(r.read(10)) == [3, 4, 5, 6]
    r.close(), w.close()


def test_attach_when_dtype_differs_raises_naming_segment_and_values(
    ring: Ring, shm_dir: Path
) -> None:
    """Attaching with another record layout is refused with both fingerprints named."""
    with pytest.raises(AttachError, match=r"'r'.*dtype fingerprint mismatch"):
        RingReader.attach("r", TICK, 0, directory=shm_dir)


def test_create_when_capacity_not_power_of_two_raises(shm_dir: Path) -> None:
    """Capacity must be a power of two; the error names the value."""
    with pytest.raises(ShmError, match="capacity 6 is not a power of two"):
        Ring.create("r", RAW64, 6, "block", directory=shm_dir)
    with pytest.raises(ShmError, match="invalid ring policy 'drop'"):
        Ring.create("r", RAW64, 8, "drop", directory=shm_dir)


def test_create_when_ring_reinitialised_attached_parties_see_stale(shm_dir: Path) -> None:
    """Re-creating a ring bumps the epoch; parties attached to the old one notice."""
    first = Ring.create("r", RAW64, 8, "block", directory=shm_dir)
    w, r = _attach(shm_dir)
    assert not w.stale() and not r.stale()
    first.segment.close()
    second = Ring.create("r", RAW64, 8, "block", directory=shm_dir)
    assert w.stale() and r.stale()
    assert ring_stats("r", shm_dir)["epoch"] == first.segment.epoch + 1
    r.close(), w.close(), second.destroy()


def test_ring_stats_when_reader_lags_reports_lag_and_counters(ring: Ring, shm_dir: Path) -> None:
    """ring_stats reports cursor, per-reader lag and the writer pid."""
    w, r = _attach(shm_dir)
    w.write(np.zeros(5, RAW64))
    r.advance(2)
    stats = ring_stats("r", shm_dir)
    assert stats["cursor"] == 5 and stats["published_total"] == 5
    assert stats["writer_pid"] == os.getpid() and stats["capacity"] == 8
    assert stats["readers"][0] | {"heartbeat_age_ms": 0} == {
        "index": 0, "pid": os.getpid(), "active": True, "cursor": 2, "lag": 3, "lost": 0,
        "parked": False, "heartbeat_age_ms": 0,
    }
    assert not stats["readers"][1]["active"]
    r.close(), w.close()


def test_destroy_when_called_removes_segment_and_doorbells(shm_dir: Path) -> None:
    """destroy() leaves nothing behind in the segment directory."""
    ring = Ring.create("r", RAW64, 8, "block", max_readers=3, directory=shm_dir)
    assert len(list(shm_dir.iterdir())) == 4
    ring.destroy()
    assert list(shm_dir.iterdir()) == []


def test_advance_when_beyond_available_raises(ring: Ring, shm_dir: Path) -> None:
    """A reader cannot commit records that were never published."""
    w, r = _attach(shm_dir)
    w.write_bytes(_rec(0))
    with pytest.raises(ShmError, match="cannot advance 2, only 1 available"):
        r.advance(2)
    r.close(), w.close()


def test_read_one_when_block_ring_full_lends_slot_until_next_call(shm_dir: Path) -> None:
    """Under block, read_one's record stays protected until the reader's next call or park."""
    ring = Ring.create("r", RAW64, 2, "block", directory=shm_dir, readers=1)
    w, r = _attach(shm_dir)
    assert w.write_bytes(_rec(0)) and w.write_bytes(_rec(1))
    first = r.read_one()
    assert first is not None and not w.write_bytes(_rec(2))  # slot of record 0 is lent
    assert int.from_bytes(bytes(first)[:8], "little") == 0
    assert r.read_one() is not None and w.write_bytes(_rec(2))
    assert r.park() == 1  # parking releases record 1 and still reports record 2
    r.unpark()
    assert w.write_bytes(_rec(3))
    r.close(), w.close(), ring.destroy()


def test_release_reader_when_reserved_slot_never_attaches_unblocks_writer(
    shm_dir: Path,
) -> None:
    """A reserved slot gates the writer until the owner releases it."""
    ring = Ring.create("r", RAW64, 2, "block", max_readers=2, directory=shm_dir, readers=2)
    w = RingWriter.attach("r", RAW64, directory=shm_dir)
    assert w.write_bytes(_rec(0)) and w.write_bytes(_rec(1)) and not w.write_bytes(_rec(2))
    ring.release_reader(0)
    ring.release_reader(1)
    assert w.write_bytes(_rec(2))
    assert [r["active"] for r in ring.stats()["readers"]] == [False, False]
    w.close(), ring.destroy()


def _marked(i: int) -> bytes:
    """A record whose every byte is i (mod 256): readable back from any field."""
    return bytes([i % 256]) * 64


def test_history_when_ring_wrapped_returns_only_records_still_held(shm_dir: Path) -> None:
    """After 20 records through 8 slots the writer can read back 12..19, oldest first."""
    ring = Ring.create("hist", RAW64, 8, "overwrite", directory=shm_dir)
    writer = RingWriter.attach("hist", RAW64, directory=shm_dir)
    try:
        for i in range(20):
            writer.write_bytes(_marked(i))
        first, records = writer.history(0)
        assert first == 12 and records["data"][:, 0].tolist() == list(range(12, 20))
        first, records = writer.history(15, 18)
        assert first == 15 and records["data"][:, 0].tolist() == [15, 16, 17]
        assert writer.history(25)[1].shape == (0,)
    finally:
        writer.close()
        ring.destroy()


def test_history_when_slots_reused_after_reader_cursor_returns_nothing_stale(
    shm_dir: Path,
) -> None:
    """A reader at 6 on a full 8-slot block ring (published 14) holds no record before 6:
    those slots carry 8..13 now, and history must not hand them out as 0..5."""
    ring = Ring.create("hist", RAW64, 8, "block", directory=shm_dir, readers=1)
    writer = RingWriter.attach("hist", RAW64, directory=shm_dir)
    reader = RingReader.attach("hist", RAW64, 0, directory=shm_dir)
    try:
        for i in range(6):
            writer.write_bytes(_marked(i))
        assert reader.read(6).shape == (6,)
        reader.advance(6)
        assert reader.history(0)[1]["data"][:, 0].tolist() == list(range(6))
        while writer.write_bytes(_marked(writer.cursor)):
            pass
        assert writer.cursor == 14
        first, records = reader.history(0)
        assert first == 6 and records.shape == (0,)
    finally:
        reader.close()
        writer.close()
        ring.destroy()


def _id(view: memoryview | None) -> int:
    assert view is not None
    return int.from_bytes(bytes(view)[:8], "little")


# 8192 records is the largest ring with a per-record view table (shm._control.SLOT_TABLE_MAX);
# larger rings' one-record paths slice the body inline: both must put records where the
# batch paths look for them, across the wrap point too.
@pytest.mark.parametrize("capacity", [8192, 16384])
@pytest.mark.parametrize("policy", ["block", "overwrite"])
def test_one_record_path_when_crossing_wrap_point_keeps_order_and_slots(
    shm_dir: Path, policy: str, capacity: int
) -> None:
    """write_bytes/read_one/available agree with history() on either side of the wrap."""
    ring = Ring.create("r", RAW64, capacity, policy, directory=shm_dir, readers=1)
    w, r = _attach(shm_dir)
    try:
        for i in range(capacity - 2):
            assert w.write_bytes(_rec(i))
            assert r.available() == 1 and _id(r.read_one()) == i and r.available() == 0
        for i in range(capacity - 2, capacity + 3):
            assert w.write_bytes(_rec(i))
        assert r.available() == 5
        assert [_id(r.read_one()) for _ in range(5)] == list(range(capacity - 2, capacity + 3))
        assert r.read_one() is None and r.available() == 0
        first, records = w.history(capacity - 2)
        assert first == capacity - 2 and _ids(records) == list(range(capacity - 2, capacity + 3))
    finally:
        r.close(), w.close(), ring.destroy()


@pytest.mark.parametrize("capacity", [8192, 16384])
def test_one_record_path_when_large_block_ring_full_lends_slot_until_next_call(
    shm_dir: Path, capacity: int
) -> None:
    """A full block ring refuses write_bytes while read_one's record is lent, not after."""
    ring = Ring.create("r", RAW64, capacity, "block", directory=shm_dir, readers=1)
    w, r = _attach(shm_dir)
    try:
        n = 0
        while w.write_bytes(_rec(n)):
            n += 1
        assert n == capacity and r.available() == capacity
        assert _id(r.read_one()) == 0 and not w.write_bytes(_rec(n))  # slot 0 is lent
        assert _id(r.read_one()) == 1 and w.write_bytes(_rec(n))  # ... released now
        assert r.available() == capacity - 1
    finally:
        r.close(), w.close(), ring.destroy()


@pytest.mark.parametrize("capacity", [8192, 16384])
def test_one_record_path_when_large_overwrite_reader_lapped_resyncs_and_counts_lost(
    shm_dir: Path, capacity: int
) -> None:
    """A reader lapped by k records sees available() == capacity, then read_one skips to
    the oldest record still held and counts the k lost ones."""
    ring = Ring.create("r", RAW64, capacity, "overwrite", directory=shm_dir, readers=1)
    w, r = _attach(shm_dir)
    try:
        k = 5
        for i in range(capacity + k):
            w.write_bytes(_rec(i))
        assert r.available() == capacity
        assert _id(r.read_one()) == k and r.lost == k
        assert r.available() == capacity - 1
    finally:
        r.close(), w.close(), ring.destroy()
