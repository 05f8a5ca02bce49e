"""Rings: one writer, up to N broadcast readers, over one shared-memory segment.

`Ring` is the owner's handle (nautilusd creates, adopts and destroys rings); engines attach
a `RingWriter` or a `RingReader`; `ring_stats` is the read-only snapshot for metrics.

Memory model (x86-64 TSO, checked by shm.platform.check_memory_model at create and attach):
the writer stores records, then the cursor with one aligned 8-byte store; a reader loads
the cursor, then the records. Overwrite rings add a claim cursor stored before the records
and re-read by readers after copying them (a seqlock), so a lapped record is discarded.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from shm import _control as c
from shm.doorbell import make_fifo, remove_fifo
from shm.errors import ReaderSlotError, ShmError
from shm.latest import Board, board_bytes, board_offset, init_board
from shm.layout import fingerprint
from shm.liveness import process_alive
from shm.platform import check_memory_model
from shm.reader import RingReader
from shm.segment import DEFAULT_DIRECTORY, KIND_RING, Segment
from shm.writer import RingWriter

__all__ = ["Ring", "RingReader", "RingWriter", "ring_stats"]


class Ring:
    """The owner's handle on a ring segment and its doorbell FIFOs."""

    def __init__(self, segment: Segment, dtype: np.dtype[np.void]) -> None:
        self.segment = segment
        self.name = segment.name
        self.dtype = dtype
        self.capacity = segment.header.capacity
        self.policy = c.Policy(segment.header.policy)
        self.max_readers = c.max_readers_of(segment)
        self.latest_slots = latest_slots_of(segment, dtype)

    @classmethod
    def create(
        cls, name: str, dtype: np.dtype[Any], capacity: int, policy: c.Policy | str,
        max_readers: int = 8, directory: Path | str = DEFAULT_DIRECTORY,
        block_timeout_ms: int = 1000, readers: int = 0, latest_slots: int = 0,
    ) -> Ring:
        """Create the segment and doorbells. `readers` reserves slots 0..readers-1 as active
        from the start, so a `block` writer keeps every record for readers not yet attached.
        `latest_slots` > 0 adds a latest-value board for symbol ids below it (shm.latest)."""
        check_memory_model()
        dtype = np.dtype(dtype)
        mode = c.Policy.parse(policy)
        if capacity < 1 or capacity & (capacity - 1):
            raise ShmError(f"ring {name!r}: capacity {capacity} is not a power of two")
        if not 1 <= max_readers <= c.MAX_READERS:
            raise ShmError(f"ring {name!r}: max_readers {max_readers} not in 1..{c.MAX_READERS}")
        if not 0 <= readers <= max_readers:
            raise ShmError(f"ring {name!r}: readers {readers} not in 0..{max_readers}")
        if latest_slots < 0:
            raise ShmError(f"ring {name!r}: latest_slots {latest_slots} is negative")
        try:
            trailer = board_bytes(dtype, latest_slots)
        except ShmError as e:
            raise ShmError(f"ring {name!r}: {e}") from None
        seg = Segment.create(
            name, kind=KIND_RING, fingerprint=fingerprint(dtype), capacity=capacity,
            record_size=dtype.itemsize, policy=int(mode), control_blocks=1 + max_readers,
            directory=directory, trailer_bytes=trailer,
        )
        if latest_slots:
            h = seg.header
            init_board(seg.buf, board_offset(h.data_offset, capacity, dtype.itemsize), dtype,
                       latest_slots)
        w = seg.block(0)
        w[c.W_BLOCK_TIMEOUT_MS] = block_timeout_ms
        w[c.W_MAX_READERS] = max_readers
        w.release()
        for k in range(max_readers):
            make_fifo(c.bell_path(seg.path, k))
        ring = cls(seg, dtype)
        for k in range(readers):
            ring.reserve_reader(k)
        return ring

    @classmethod
    def adopt(
        cls, name: str, dtype: np.dtype[Any], capacity: int, policy: c.Policy | str,
        max_readers: int = 8, directory: Path | str = DEFAULT_DIRECTORY,
        block_timeout_ms: int = 1000, readers: int = 0, latest_slots: int = 0,
    ) -> Ring | None:
        """Take over ring `name` from its dead owner when it is what `create` with these
        arguments would make: forget the dead writer and readers, keep every cursor. Slots
        0..readers-1 stay active at their committed cursors; the others are freed (nobody
        would advance them). None when there is no such segment, it differs, it cannot be
        read, or its owner still runs."""
        dtype = np.dtype(dtype)
        seg = _matching(name, dtype, capacity, c.Policy.parse(policy), max_readers,
                        Path(directory), latest_slots)
        if seg is None:
            return None
        seg.take_ownership()
        w = seg.block(0)
        w[c.W_PID] = w[c.W_START_TICKS] = 0
        w[c.W_BLOCK_TIMEOUT_MS] = block_timeout_ms
        w.release()
        seg.set_writer_pid(0)
        ring = cls(seg, dtype)
        for k in range(ring.max_readers):
            slot = c.reader_slot(seg, k)
            slot[c.R_PID] = slot[c.R_START_TICKS] = 0
            slot.release()
            make_fifo(c.bell_path(seg.path, k))  # a fresh doorbell, no stale rings
            if k < readers:
                ring.reserve_reader(k)  # active at its committed cursor (kept if it had one)
            else:
                ring.release_reader(k)
        parked = c.parked_view(seg)
        parked[:] = bytes(len(parked))
        parked.release()
        return ring

    @classmethod
    def reattach(
        cls, name: str, dtype: np.dtype[Any], capacity: int, policy: c.Policy | str,
        max_readers: int = 8, directory: Path | str = DEFAULT_DIRECTORY, latest_slots: int = 0,
    ) -> Ring | None:
        """The owner's handle on ring `name` again, for a process that re-executed itself
        (same pid): nothing in it is touched, writer and readers go on. None when there is
        no such segment, it differs from these arguments, or this process does not own it."""
        dtype = np.dtype(dtype)
        seg = _same_geometry(name, dtype, capacity, c.Policy.parse(policy), max_readers,
                             Path(directory), latest_slots)
        if seg is None:
            return None
        if seg.header.owner_pid != os.getpid():
            seg.close()
            return None
        seg.owner = True
        return cls(seg, dtype)

    def reserve_reader(self, index: int) -> None:
        """Mark slot `index` active at the published cursor before its reader attaches."""
        slot = self._slot(index)
        if slot[c.R_STATE] != c.SlotState.ACTIVE:
            w = self.segment.block(0)
            slot[c.R_CURSOR] = w[c.W_PUBLISHED]
            slot[c.R_PID] = 0
            slot[c.R_STATE] = c.SlotState.ACTIVE
            w.release()
        slot.release()

    def release_reader(self, index: int) -> None:
        """Free slot `index` (its reader is gone for good): the writer stops waiting for it."""
        slot = self._slot(index)
        slot[c.R_STATE] = c.SlotState.FREE
        slot[c.R_PID] = 0
        slot.release()
        parked = c.parked_view(self.segment)
        parked[index] = 0
        parked.release()

    def _slot(self, index: int) -> memoryview:
        if not 0 <= index < self.max_readers:
            raise ReaderSlotError(
                f"ring {self.name!r}: reader index {index} out of range 0..{self.max_readers - 1}"
            )
        return c.reader_slot(self.segment, index)

    def stats(self) -> dict[str, Any]:
        return _stats(self.segment)

    def destroy(self) -> None:
        """Close and unlink the segment and its doorbells; attached parties keep their maps."""
        for k in range(self.max_readers):
            remove_fifo(c.bell_path(self.segment.path, k))
        self.segment.close()
        self.segment.unlink()

    def __enter__(self) -> Ring:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.destroy()


def _matching(name: str, dtype: np.dtype[np.void], capacity: int, policy: c.Policy,
              max_readers: int, directory: Path, latest_slots: int) -> Segment | None:
    """Ring segment `name` attached, if it has this geometry and its owner is dead."""
    seg = _same_geometry(name, dtype, capacity, policy, max_readers, directory, latest_slots)
    if seg is None:
        return None
    h = seg.header
    # An owner of this very pid is an earlier image of this process (it re-executed itself
    # and could not hand the ring over): as dead as any predecessor.
    if h.owner_pid != os.getpid() and process_alive(h.owner_pid, h.owner_start_ticks):
        seg.close()
        return None
    return seg


def _same_geometry(name: str, dtype: np.dtype[Any], capacity: int, policy: c.Policy,
                   max_readers: int, directory: Path, latest_slots: int) -> Segment | None:
    """Ring segment `name` attached, if it has this layout, capacity, policy, reader slots
    and latest-value board; None when it is missing, unreadable or of another geometry."""
    if not (directory / name).is_file():
        return None
    try:
        seg = Segment.attach(name, kind=KIND_RING, fingerprint=fingerprint(dtype),
                             capacity=capacity, record_size=dtype.itemsize, directory=directory)
    except ShmError:
        return None
    h = seg.header
    try:
        board = latest_slots_of(seg, dtype)
    except ShmError:
        board = -1  # a damaged board: not this geometry
    if (h.policy != policy or h.control_blocks != 1 + max_readers
            or board != latest_slots):
        seg.close()
        return None
    return seg


def latest_slots_of(seg: Segment, dtype: np.dtype[Any]) -> int:
    """How many symbols the ring's latest-value board holds (0: no board)."""
    h = seg.header
    board = Board.of(seg.buf, h.total_bytes, h.data_offset, h.capacity, dtype)
    if board is None:
        return 0
    board.release()
    return board.slots


def ring_stats(name: str, directory: Path | str = DEFAULT_DIRECTORY) -> dict[str, Any]:
    """A read-only snapshot of ring `name`: cursors, lags, losses, parked readers."""
    seg = c.open_stats_segment(name, directory)
    try:
        return _stats(seg)
    finally:
        seg.close()


def _stats(seg: Segment) -> dict[str, Any]:
    h = seg.header
    w = seg.block(0)
    parked = c.parked_view(seg)
    try:
        cursor = int(w[c.W_PUBLISHED])
        readers = [_reader_stats(seg, k, cursor, parked[k]) for k in range(c.max_readers_of(seg))]
        return {
            "name": seg.name, "capacity": h.capacity,
            "policy": c.Policy(h.policy).name.lower(), "record_size": h.record_size,
            "epoch": seg.current_epoch(), "writer_pid": int(w[c.W_PID]), "cursor": cursor,
            "readers": readers, "backpressure_waits": int(w[c.W_BACKPRESSURE]),
            "full_timeouts": int(w[c.W_FULL_TIMEOUTS]), "published_total": cursor,
        }
    finally:
        w.release()
        parked.release()


def _reader_stats(seg: Segment, k: int, cursor: int, parked: int) -> dict[str, Any]:
    slot = c.reader_slot(seg, k)
    try:
        pos = int(slot[c.R_CURSOR])
        beat = int(slot[c.R_HEARTBEAT_NS])
        return {
            "index": k, "pid": int(slot[c.R_PID]),
            "active": slot[c.R_STATE] == c.SlotState.ACTIVE, "cursor": pos,
            "lag": cursor - pos, "lost": int(slot[c.R_LOST]), "parked": bool(parked),
            "heartbeat_age_ms": (time.monotonic_ns() - beat) / 1e6 if beat else None,
        }
    finally:
        slot.release()
