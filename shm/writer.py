"""The single writer of a ring: claim/publish, batch write and the one-record fast path.

Records are written first, then published with one aligned 8-byte store of the cursor
(x86-64 TSO, see shm.platform). Under `block` the writer never passes the slowest active
reader; under `overwrite` it announces a claim cursor first so readers can detect laps.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from shm import _control as c
from shm._fastpath import RecordBytes, compare_and_swap, full_fence, writer_path
from shm.doorbell import BellRinger
from shm.errors import RingFullError, ShmError
from shm.latest import Board
from shm.segment import DEFAULT_DIRECTORY, Segment
from shm.wait import WaitKind, WaitStrategy, make_wait

_CAS = compare_and_swap()  # None on the Python paths: the claim is check-then-set there


class RingWriter:
    """Attach with `RingWriter.attach`; resumes at the published cursor."""

    def __init__(self, seg: Segment, dtype: np.dtype[np.void], wait: WaitStrategy) -> None:
        h = seg.header
        self.segment = seg
        self.name = seg.name
        self.dtype = dtype
        self.policy = c.Policy(h.policy)
        self.capacity = h.capacity
        self.max_readers = c.max_readers_of(seg)
        self._wait = wait
        self._cap = h.capacity
        self._mask = h.capacity - 1
        self._rs = dtype.itemsize
        self._w = seg.block(0)
        self._body = seg.body()
        self._bytes = np.frombuffer(self._body, dtype=np.uint8)
        self._records = self._bytes.view(dtype)
        self._scratch = np.zeros(self._cap, dtype=dtype)
        self._slots = [c.reader_slot(seg, k) for k in range(self.max_readers)]
        self._parked = c.parked_view(seg)
        self._multi = self.max_readers > 8
        self._fence = full_fence()  # None on the Python paths (their readers re-check, bounded)
        self._parked_words = range(c.W_PARKED0, c.W_PARKED0 + (self.max_readers + 7) // 8)
        self._bells = BellRinger([c.bell_path(seg.path, k) for k in range(self.max_readers)])
        self.dead_parks_cleared = 0  # parked flags of dead readers cleared (_clear_dead_park)
        self.last_dead_park_pid = 0
        self._views = c.record_views(self._body, self._rs, self._cap)
        # The writer's position, kept in a list: a list item costs a third of a memoryview
        # item in the one-record hot path. W_PUBLISHED in shm always equals it between calls.
        self._st = [int(self._w[c.W_PUBLISHED])]
        self._gate = self._st[0]
        self._claimed = 0
        self._claim_wrapped = False
        self.refresh_gate()
        self._board = Board.of(seg.buf, h.total_bytes, h.data_offset, h.capacity, dtype)
        self.latest_slots = 0 if self._board is None else self._board.slots
        # write_bytes(b) -> bool: one record from `b` (exactly record_size bytes), posted to
        # the board too; False when a block ring is full (shm._fastpath).
        self.write_bytes: Callable[[RecordBytes], bool] = writer_path(
            self.policy is c.Policy.BLOCK, self._w, self._st, self._body, self._rs, self._views,
            self._mask, self._cap, self._gate, self.refresh_gate, self._wake, self._multi,
            self._board)

    @classmethod
    def attach(
        cls, name: str, dtype: np.dtype[Any], directory: Path | str = DEFAULT_DIRECTORY,
        wait: WaitStrategy | WaitKind | str | None = None,
    ) -> RingWriter:
        """Attach as the writer; refuses when another live process is the writer."""
        seg = c.attach_segment(name, np.dtype(dtype), directory)
        try:
            w = seg.block(0)
            pid, ticks = int(w[c.W_PID]), int(w[c.W_START_TICKS])
            me, my_ticks = c.my_identity()
            if pid not in (0, me) and c.live(pid, ticks):
                raise ShmError(f"ring {name!r} already has a live writer, pid {pid}")
            if _CAS is not None and not _CAS(w, c.W_PID, pid, me):
                raise ShmError(f"ring {name!r}: its writer slot was claimed by pid "
                               f"{int(w[c.W_PID])} at the same time")
            w[c.W_PID], w[c.W_START_TICKS] = me, my_ticks
            seg.set_writer_pid(me)
            impl = _BlockWriter if seg.header.policy == c.Policy.BLOCK else _OverwriteWriter
            return impl(seg, np.dtype(dtype), make_wait(wait))
        except BaseException:
            seg.close()
            raise

    # -- gating (block policy) ------------------------------------------------------------------

    def refresh_gate(self) -> int:
        """Re-read the slowest active reader's cursor (the writer's own when none is active)."""
        gate = self._st[0]
        for slot in self._slots:
            if slot[c.R_STATE] == c.SlotState.ACTIVE:
                cur = slot[c.R_CURSOR]
                if cur < gate:
                    gate = cur
        self._gate = gate
        return gate

    def free(self) -> int:
        """Records that can be claimed right now without waiting."""
        return self._cap - (self._st[0] - self.refresh_gate())

    def has_room(self, n: int) -> bool:
        """Whether `n` records can be written now without waiting (one-record writes of them
        will not fail): the cached gate first, the readers' cursors only when it says no.

        Readers only ever free slots, so the gate seen last stays a safe bound whatever path
        wrote since; every path that re-reads the cursors (write_bytes too) refreshes it."""
        pos = self._st[0] + n - self._cap
        return pos <= self._gate or pos <= self.refresh_gate()

    # -- claim / publish ------------------------------------------------------------------------

    def try_claim(self, n: int) -> np.ndarray | None:
        """A writable view of `n` contiguous records, or None when there is no room now."""
        self._check_size(n)
        pos = self._st[0]
        if pos + n - self._gate > self._cap and pos + n - self.refresh_gate() > self._cap:
            return None
        return self._claim_view(pos, n)

    def _claim_view(self, pos: int, n: int) -> np.ndarray:
        self._claimed = n
        idx = pos & self._mask
        if idx + n <= self._cap:
            self._claim_wrapped = False
            return self._records[idx : idx + n]
        # Across the wrap point the caller fills a scratch area that publish() copies in.
        self._claim_wrapped = True
        return self._scratch[:n]

    def claim(self, n: int, timeout_s: float | None = None) -> np.ndarray:
        """Like try_claim but waits per the wait strategy; RingFullError after the timeout."""
        view = self.try_claim(n)
        if view is not None:
            return view
        if timeout_s is None:
            timeout_s = int(self._w[c.W_BLOCK_TIMEOUT_MS]) / 1000.0
        self._w[c.W_BACKPRESSURE] += 1
        self._wait.wait(lambda: 1 if self.free() >= n else 0, timeout_s)
        view = self.try_claim(n)
        if view is None:
            self._w[c.W_FULL_TIMEOUTS] += 1
            raise self._full_error(n, timeout_s)
        return view

    def publish(self, n: int | None = None) -> None:
        """Publish the first `n` (default: all) claimed records and wake parked readers."""
        claimed = self._claimed
        if n is None or n > claimed:
            n = claimed
        pos = self._st[0]
        if self._claim_wrapped:
            self._copy_in(pos, self._scratch[:n].view(np.uint8))
        self._claimed = 0
        self._publish_cursor(pos + n)
        if self._board is not None and n:
            self._board_from_ring(pos, n)

    def _publish_cursor(self, pos: int) -> None:
        """Publish up to `pos`, then wake parked readers. The fence orders the cursor store
        before the parked-flag load, as the compiled one-record path does (shm/_native.c): a
        reader parking at the same time either sees the cursor or is seen parked."""
        self._st[0] = pos
        self._w[c.W_PUBLISHED] = pos
        if self._fence is not None:
            self._fence()
        if self._w[c.W_PARKED0] or self._multi:
            self._wake()

    def _board_from_ring(self, pos: int, n: int) -> None:
        """Post records [pos, pos + n), just published, to the latest-value board."""
        rs, idx = self._rs, pos & self._mask
        first = min(n, self._cap - idx)
        self._board.put_many(self._bytes[idx * rs : (idx + first) * rs])  # type: ignore[union-attr]
        if first < n:
            self._board.put_many(self._bytes[: (n - first) * rs])  # type: ignore[union-attr]

    def _copy_in(self, pos: int, src: np.ndarray) -> None:
        """Copy raw record bytes into the ring at `pos`, splitting at the wrap point."""
        rs = self._rs
        off = (pos & self._mask) * rs
        first = min(src.size, self._cap * rs - off)
        self._bytes[off : off + first] = src[:first]
        if first < src.size:
            self._bytes[: src.size - first] = src[first:]

    # -- batch and one-record paths --------------------------------------------------------------

    def write(self, records: np.ndarray, timeout_s: float | None = None) -> int:
        """Write every record (waiting per policy); RingFullError on a block timeout."""
        raw = self._raw_bytes(records)
        rs, cap = self._rs, self._cap
        total = raw.size // rs
        done = 0
        while done < total:
            k = min(total - done, cap)
            pos = self._st[0]
            if pos + k - self._gate > cap or self.policy is c.Policy.OVERWRITE:
                try:  # waits (block) or announces the claim (overwrite)
                    self.claim(k, timeout_s)
                except RingFullError as exc:
                    if not done:
                        raise
                    raise RingFullError(f"{exc}; {done} of the {total} records of this write "
                                        "were published before it", published=done) from None
                finally:
                    self._claimed = 0  # written here, not through publish(): nothing pending
            self._copy_in(pos, raw[done * rs : (done + k) * rs])
            pos += k
            self._publish_cursor(pos)
            if self._board is not None:
                self._board.put_many(raw[done * rs : (done + k) * rs])
            done += k
        return total

    def _raw_bytes(self, records: np.ndarray) -> np.ndarray:
        """The records as one flat uint8 array (a view when they are contiguous)."""
        if not records.flags.c_contiguous:
            records = np.ascontiguousarray(records)
        raw = records.view(np.uint8).reshape(-1)
        if raw.size % self._rs:
            raise ShmError(
                f"ring {self.name!r}: {raw.size} bytes is not a whole number of "
                f"{self._rs}-byte records"
            )
        return raw

    # -- readers ---------------------------------------------------------------------------------

    def _wake(self) -> None:
        # Each parked word packs eight one-byte flags (reader k = byte k % 8 of word k // 8):
        # the word itself says who sleeps, so only those doorbells are looked at.
        w, ring, first = self._w, self._bells.ring, 0
        for word in self._parked_words:
            flags = w[word] & 0xFFFF_FFFF_FFFF_FFFF  # as unsigned: byte 7 may be set
            k = first
            while flags:
                if flags & 0xFF and not ring(k):
                    self._clear_dead_park(k)
                flags >>= 8
                k += 1
            first += 8

    def _clear_dead_park(self, k: int) -> None:
        """Reader `k` is flagged parked but nobody holds its doorbell open: a parked reader
        keeps it open until it unparks, so that reader died parked (SIGKILL). Clear its flag,
        or every later publish would pay a failing open() of its FIFO; count it on the
        slot's pid. A reader that comes back sets its flag again when it parks."""
        if self._parked[k]:
            self._parked[k] = 0
            self.dead_parks_cleared += 1
            self.last_dead_park_pid = int(self._slots[k][c.R_PID])

    def _full_error(self, n: int, timeout_s: float) -> RingFullError:
        pos = self._st[0]
        slow = [
            (k, int(s[c.R_PID]), pos - int(s[c.R_CURSOR]))
            for k, s in enumerate(self._slots) if s[c.R_STATE] == c.SlotState.ACTIVE
        ]
        k, pid, lag = max(slow, key=lambda t: t[2], default=(-1, 0, 0))
        return RingFullError(
            f"ring {self.name!r} full for {timeout_s:.3f}s claiming {n} records: reader slot {k} "
            f"(pid {pid}) is {lag} records behind, capacity {self._cap}"
        )

    # -- state and lifetime ------------------------------------------------------------------

    @property
    def cursor(self) -> int:
        return self._st[0]

    def history(self, start: int, end: int | None = None) -> tuple[int, np.ndarray]:
        """Copies of the records at positions [start, end) (default: up to this writer's
        cursor) still held by the ring, and the position of the first returned."""
        return c.history(self._records, self._w, self._cap, start,
                         self._st[0] if end is None else end)

    @property
    def backpressure_waits(self) -> int:
        return int(self._w[c.W_BACKPRESSURE])

    def stale(self) -> bool:
        """True once the segment was re-initialised or retired: re-attach."""
        return self.segment.stale()

    def _check_size(self, n: int) -> None:
        if not 0 < n <= self._cap:
            raise ShmError(f"ring {self.name!r}: cannot claim {n} records, capacity {self._cap}")

    def close(self) -> None:
        """Detach; the published cursor stays in shm for the next writer."""
        if self._body is None:
            return
        if self._w[c.W_PID] == c.my_identity()[0] and not self.segment.stale():
            self._w[c.W_PID] = 0
        self._bells.close()
        if self._board is not None:
            self._board.release()
            self._board = None
        c.release_views(self._views)
        del self._records, self._bytes, self._scratch, self._slots, self._views
        self._body.release()
        self._w.release()
        self._parked.release()
        self._body = None  # type: ignore[assignment]
        self.segment.close()

    def __enter__(self) -> RingWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _BlockWriter(RingWriter):
    pass


class _OverwriteWriter(RingWriter):
    def refresh_gate(self) -> int:
        # Overwrite never waits for readers: the gate is always the writer's own position.
        self._gate = self._st[0]
        return self._gate

    def try_claim(self, n: int) -> np.ndarray | None:
        self._check_size(n)
        pos = self._st[0]
        if self._w[c.W_CLAIM] < pos + n:  # never lowered: an unpublished claim was scribbled on
            self._w[c.W_CLAIM] = pos + n
        return self._claim_view(pos, n)

    def claim(self, n: int, timeout_s: float | None = None) -> np.ndarray:
        return self.try_claim(n)  # type: ignore[return-value]
