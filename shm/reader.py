"""A reader of a ring: its own committed cursor in shm, batch reads and the one-record path.

Under `block` reads are zero-copy views (the writer cannot pass the committed cursor);
under `overwrite` they are copies validated against the writer's claim cursor afterwards,
so a record overwritten during the copy is discarded and counted lost, never delivered torn.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from shm import _control as c
from shm._fastpath import compare_and_swap, full_fence, reader_paths
from shm.doorbell import Doorbell
from shm.errors import ReaderSlotError, ShmError
from shm.latest import Board
from shm.segment import DEFAULT_DIRECTORY, Segment
from shm.wait import WaitKind, WaitStrategy, make_wait


class RingReader:
    """Attach with `RingReader.attach`; resumes at the slot's committed cursor."""

    def __init__(
        self, seg: Segment, dtype: np.dtype[np.void], index: int, wait: WaitStrategy
    ) -> None:
        h = seg.header
        self.segment = seg
        self.name = seg.name
        self.dtype = dtype
        self.index = index
        self.policy = c.Policy(h.policy)
        self.capacity = h.capacity
        self._wait = wait
        self._cap = h.capacity
        self._mask = h.capacity - 1
        self._rs = dtype.itemsize
        self._w = seg.block(0)
        self._r = c.reader_slot(seg, index)
        self._parked = c.parked_view(seg)
        self._body = seg.body()
        self._bytes = np.frombuffer(self._body, dtype=np.uint8)
        self._records = self._bytes.view(dtype)
        self._empty = self._records[:0]
        self._views = c.record_views(self._body, self._rs, self._cap)
        self._one = memoryview(bytearray(self._rs))
        self._fence = full_fence()
        self._bell = Doorbell(c.bell_path(seg.path, index))
        self._lost = int(self._r[c.R_LOST])
        # The next position to deliver, in a list (cheaper than a memoryview item in the hot
        # path). R_CURSOR in shm equals it, or trails it by the one record read_one() lent.
        self._st = [int(self._r[c.R_CURSOR])]
        # read_one() -> memoryview | None: the next record's bytes and advance(1); None when
        # nothing is available. The bytes stay valid until the next read_one, read, advance,
        # wait, park or close call (under `block` they are the ring slot itself, lent to the
        # caller and released then: a crash in between re-delivers that one record).
        # available() -> int: records published and not yet consumed by this reader (at most
        # the capacity on an overwrite ring). Both from shm._fastpath.
        self.read_one: Callable[[], memoryview | None]
        self.available: Callable[[], int]
        self.read_one, self.available = reader_paths(
            self.policy is c.Policy.BLOCK, self._w, self._r, self._st, self._body, self._rs,
            self._views, self._mask, self._cap, self._one, self._resync)
        # The ring's latest-value board (shm.latest): latest(symbol_id) -> that symbol's last
        # record (bytes valid until the next latest call) or None; latest_slots 0 = no board.
        self._board = Board.of(seg.buf, h.total_bytes, h.data_offset, h.capacity, dtype)
        self.latest_slots = 0 if self._board is None else self._board.slots
        self.latest: Callable[[int], memoryview | None] = (
            _no_latest if self._board is None else self._board.get)

    @classmethod
    def attach(
        cls, name: str, dtype: np.dtype[Any], reader_index: int,
        directory: Path | str = DEFAULT_DIRECTORY,
        wait: WaitStrategy | WaitKind | str | None = None,
    ) -> RingReader:
        """Join slot `reader_index`: resume at its committed cursor, or start at the
        published cursor when the slot was free."""
        seg = c.attach_segment(name, np.dtype(dtype), directory)
        joined: bool | None = None
        try:
            joined = _join(seg, reader_index)
            impl = _BlockReader if seg.header.policy == c.Policy.BLOCK else _OverwriteReader
            return impl(seg, np.dtype(dtype), reader_index, make_wait(wait))
        except BaseException:
            if joined is not None:  # give back what the join took
                _unjoin(seg, reader_index, was_active=joined)
            seg.close()
            raise

    # -- reading ------------------------------------------------------------------------------

    def read(self, max_n: int) -> np.ndarray:
        """Up to `max_n` available records, stopping at the wrap point; zero-length if none."""
        raise NotImplementedError

    def _resync(self, end: int) -> int:
        """Skip what the writer lapped (overwrite rings); returns the oldest position intact."""
        return self._st[0]

    def skip_to_end(self) -> int:
        """Consume everything published without reading it (a reader that only looks at the
        latest-value board keeps its cursor current this way); returns the records skipped."""
        end = int(self._w[c.W_PUBLISHED])
        skipped = max(end - self._st[0], 0)
        self._st[0] = end
        self._r[c.R_CURSOR] = end
        return skipped

    def advance(self, n: int) -> None:
        """Commit `n` records as consumed (the writer may now reuse their slots)."""
        pos = self._st[0] + n
        if n < 0 or pos > self._w[c.W_PUBLISHED]:
            raise ShmError(
                f"ring {self.name!r} reader {self.index}: cannot advance {n}, "
                f"only {self.available()} available"
            )
        self._st[0] = pos
        self._r[c.R_CURSOR] = pos

    def wait(self, timeout_s: float | None) -> int:
        """Wait per the wait strategy until records are available; returns how many."""
        self._r[c.R_HEARTBEAT_NS] = time.monotonic_ns()
        self._r[c.R_CURSOR] = self._st[0]  # release what read_one() lent: we wait for more
        n = self.available()
        if n > 0:
            return n
        return self._wait.wait(self.available, timeout_s, self)

    # -- parking (blocking wait, event loops) ---------------------------------------------------

    def fileno(self) -> int:
        """The doorbell fd: readable after the writer published while this reader was parked."""
        return self._bell.fd

    def park(self) -> int:
        """Set the parked flag, then re-check: sleep on fileno() only if this returns 0."""
        self._r[c.R_CURSOR] = self._st[0]  # release what read_one() lent: we go to sleep
        self._parked[self.index] = 1
        if self._fence is not None:
            self._fence()  # the flag store is visible before the cursor load (shm/_native.c)
        self._bell.drain()  # the pipe lock orders them too on the Python paths, in practice
        return self.available()

    def unpark(self) -> None:
        self._parked[self.index] = 0

    # -- state and lifetime ------------------------------------------------------------------

    @property
    def cursor(self) -> int:
        return self._st[0]

    def history(self, start: int, end: int | None = None) -> tuple[int, np.ndarray]:
        """Copies of the records at positions [start, end) (default: up to this reader's
        cursor) still held by the ring, and the position of the first returned."""
        return c.history(self._records, self._w, self._cap, start,
                         self._st[0] if end is None else end)

    @property
    def lost(self) -> int:
        return self._lost

    def _add_lost(self, n: int) -> None:
        self._lost += n
        self._r[c.R_LOST] = self._lost

    def stale(self) -> bool:
        """True once the segment was re-initialised or retired: re-attach."""
        return self.segment.stale()

    def leave(self) -> None:
        """Release the slot (the writer stops waiting for it) and close."""
        if self._body is not None and not self.segment.stale():
            self._r[c.R_STATE] = c.SlotState.FREE
            self._r[c.R_PID] = 0
        self.close()

    def close(self) -> None:
        """Detach, keeping the slot and its committed cursor for a restarted reader."""
        if self._body is None:
            return
        if not self.segment.stale():
            self._r[c.R_CURSOR] = self._st[0]  # commit the record read_one() lent out
        self._parked[self.index] = 0
        self._bell.close()
        if self._board is not None:
            self._board.release()
            self._board = None
            self.latest = _no_latest
        c.release_views(self._views)
        self._one.release()
        del self._records, self._bytes, self._empty, self._views
        for view in (self._body, self._w, self._r, self._parked):
            view.release()
        self._body = None  # type: ignore[assignment]
        self.segment.close()

    def __enter__(self) -> RingReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _no_latest(key: int) -> memoryview | None:
    return None


def _join(seg: Segment, index: int) -> bool:
    """Claim reader slot `index` for this process; True if it was ACTIVE already (its
    committed cursor kept), False if it was FREE (it starts at the published cursor)."""
    max_readers = c.max_readers_of(seg)
    if not 0 <= index < max_readers:
        raise ReaderSlotError(
            f"ring {seg.name!r}: reader index {index} out of range 0..{max_readers - 1}"
        )
    slot = c.reader_slot(seg, index)
    w = seg.block(0)
    me, my_ticks = c.my_identity()
    pid, ticks = int(slot[c.R_PID]), int(slot[c.R_START_TICKS])
    if slot[c.R_STATE] == c.SlotState.ACTIVE and pid not in (0, me) and c.live(pid, ticks):
        raise ReaderSlotError(f"ring {seg.name!r}: reader slot {index} is held by live pid {pid}")
    if _CAS is not None and not _CAS(slot, c.R_PID, pid, me):
        raise ReaderSlotError(f"ring {seg.name!r}: reader slot {index} was claimed by pid "
                              f"{int(slot[c.R_PID])} at the same time")
    was_active = slot[c.R_STATE] == c.SlotState.ACTIVE
    if not was_active:
        slot[c.R_CURSOR] = w[c.W_PUBLISHED]
        slot[c.R_STATE] = c.SlotState.ACTIVE
        # Re-read after activating: a writer that scanned before saw no reader here. The
        # fence keeps the ACTIVE store from passing the load (x86 store buffer): without it
        # a writer running on a limit cached before could overwrite what this reader reads.
        if _FENCE is not None:
            _FENCE()
        slot[c.R_CURSOR] = w[c.W_PUBLISHED]
    slot[c.R_PID], slot[c.R_START_TICKS] = me, my_ticks
    slot[c.R_HEARTBEAT_NS] = time.monotonic_ns()
    slot[c.R_JOINS] += 1
    c.parked_view(seg)[index] = 0
    return was_active


def _unjoin(seg: Segment, index: int, was_active: bool) -> None:
    """Undo a join whose attach failed: a slot that was FREE is FREE again, one that was
    ACTIVE keeps its committed cursor for the next reader; neither keeps this pid."""
    slot = c.reader_slot(seg, index)
    if not was_active:
        slot[c.R_STATE] = c.SlotState.FREE
    if slot[c.R_PID] == os.getpid():
        slot[c.R_PID] = 0
    slot.release()


_FENCE = full_fence()
_CAS = compare_and_swap()


class _BlockReader(RingReader):
    def read(self, max_n: int) -> np.ndarray:
        pos = self._st[0]
        n = self._w[0] - pos  # W_PUBLISHED
        if n <= 0:
            return self._empty
        idx = pos & self._mask
        n = min(n, max_n, self._cap - idx)
        return self._records[idx : idx + n]


class _OverwriteReader(RingReader):
    def __init__(
        self, seg: Segment, dtype: np.dtype[np.void], index: int, wait: WaitStrategy
    ) -> None:
        self._copy = np.zeros(seg.header.capacity, dtype=dtype)
        self._copy_bytes = self._copy.view(np.uint8)
        super().__init__(seg, dtype, index, wait)

    def _resync(self, end: int) -> int:
        """Skip what the writer lapped; returns the oldest position still intact."""
        pos = self._st[0]
        oldest = max(end, int(self._w[c.W_CLAIM])) - self._cap
        if oldest > pos:
            self._add_lost(oldest - pos)
            pos = self._st[0] = oldest
            self._r[c.R_CURSOR] = pos
        return pos

    def read(self, max_n: int) -> np.ndarray:
        end = int(self._w[c.W_PUBLISHED])
        pos = self._resync(end)
        if end <= pos or max_n <= 0:
            return self._empty
        idx = pos & self._mask
        n = min(end - pos, max_n, self._cap - idx)
        rs = self._rs
        self._copy_bytes[: n * rs] = self._bytes[idx * rs : (idx + n) * rs]
        # Seqlock check: anything below claim - capacity may have changed under the copy.
        skip = min(n, int(self._w[c.W_CLAIM]) - self._cap - pos)
        if skip > 0:
            self._add_lost(skip)
            self._st[0] = pos + skip
            self._r[c.R_CURSOR] = pos + skip
            return self._copy[skip:n]
        return self._copy[:n]

