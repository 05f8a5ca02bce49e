"""The control blocks of a ring segment: word indexes, policy codes and the attach helper.

Block 0 belongs to the writer, block 1 + k to reader slot k; each is 128 bytes (16 int64
words) so that no two parties write the same cache line pair.
"""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Final

import numpy as np

from shm.errors import AttachError, ShmError
from shm.layout import fingerprint
from shm.liveness import process_alive, process_start_ticks
from shm.platform import check_memory_model
from shm.segment import (
    BLOCK_BYTES,
    DEFAULT_DIRECTORY,
    KIND_RING,
    Segment,
)

MAX_READERS: Final = 64

# -- writer block (control block 0), int64 word indexes ------------------------------------------
W_PUBLISHED: Final = 0  # records [0, published) are readable; the one publishing store
W_CLAIM: Final = 1  # overwrite: the writer may be writing positions below this (seqlock)
W_PID: Final = 2  # pid of the attached writer, 0 when none
W_START_TICKS: Final = 3  # its start time, to tell a live writer from a recycled pid
W_BACKPRESSURE: Final = 4  # claims that had to wait for a slow reader (block policy)
W_BLOCK_TIMEOUT_MS: Final = 5  # how long a claim waits before RingFullError
W_MAX_READERS: Final = 6
W_FULL_TIMEOUTS: Final = 7  # claims that gave up after block_timeout_ms
# Bytes 64 .. 64 + MAX_READERS of block 0: one parked byte per reader slot. Each reader
# stores only its own byte; the writer tests eight of them with one int64 load (word 8).
W_PARKED0: Final = 8
PARKED_BYTE0: Final = 64

# -- reader slot (control block 1 + k), int64 word indexes ---------------------------------------
R_CURSOR: Final = 0  # committed position: the next record this reader will consume
R_PID: Final = 1
R_START_TICKS: Final = 2
R_STATE: Final = 3  # SlotState value
R_HEARTBEAT_NS: Final = 4  # CLOCK_MONOTONIC ns of the reader's last attach or wait
R_LOST: Final = 5  # records lost to overwrite laps
R_JOINS: Final = 6  # attaches into this slot


class SlotState(enum.IntEnum):
    """Whether a reader slot gates the writer (ACTIVE) or not (FREE)."""

    FREE = 0
    ACTIVE = 1


class Policy(enum.IntEnum):
    """What the writer does when the slowest reader is a full ring behind: wait for it
    (BLOCK) or lap it (OVERWRITE). The value is the segment header's code; the config and
    `Ring.create` spell it by name, "block" or "overwrite"."""

    BLOCK = 1
    OVERWRITE = 2

    @classmethod
    def parse(cls, value: Policy | str) -> Policy:
        """`value` itself, or the policy named by it ("block", "overwrite")."""
        if isinstance(value, Policy):
            return value
        try:
            return cls[str(value).upper()]
        except KeyError:
            raise ShmError(f"invalid ring policy {value!r}: use 'block' or 'overwrite'") from None


def bell_path(segment_path: Path, index: int) -> Path:
    """The doorbell FIFO of reader slot `index`, next to the segment file."""
    return segment_path.with_name(f"{segment_path.name}.r{index}.bell")


def attach_segment(name: str, dtype: np.dtype[np.void], directory: Path | str) -> Segment:
    """Attach a ring segment, refusing a different record layout or size."""
    check_memory_model()
    return _checked(Segment.attach(
        name, kind=KIND_RING, fingerprint=fingerprint(dtype), record_size=dtype.itemsize,
        directory=directory,
    ))


def open_stats_segment(name: str, directory: Path | str = DEFAULT_DIRECTORY) -> Segment:
    return _checked(Segment.attach(name, kind=KIND_RING, directory=directory))


def _checked(seg: Segment) -> Segment:
    """Refuse a ring header no creator could have written (damaged or foreign): a bad
    capacity, policy or slot count would otherwise index out of the mapping or hang."""
    h = seg.header
    bad: tuple[str, object, object] | None = None
    if h.capacity < 1 or h.capacity & (h.capacity - 1):
        bad = ("capacity", "a power of two", h.capacity)
    elif h.policy not in tuple(Policy):
        bad = ("policy", f"one of {[int(p) for p in Policy]}", h.policy)
    elif not 1 <= h.control_blocks - 1 <= MAX_READERS:
        bad = ("reader slots", f"1..{MAX_READERS}", h.control_blocks - 1)
    if bad is not None:
        seg.close()
        raise AttachError(seg.name, *bad)
    return seg


def history(
    records: np.ndarray, w: memoryview, cap: int, start: int, end: int
) -> tuple[int, np.ndarray]:
    """Copies of the records at positions [start, end) that the ring still holds, oldest
    first, and the position of the first one returned.

    A slot is reused by the record `cap` positions later, so nothing before
    `published - cap` is there any more; the cursors are read again after the copy and the
    records the writer reached meanwhile are dropped, never returned half-rewritten. On a
    block ring a batch claimed but not yet published is not visible here: call this from
    the writer itself, or while the writer is stopped or blocked, for an exact answer.
    """
    first = max(start, int(w[W_PUBLISHED]) - cap, 0)
    if first >= end:
        return end, records[:0].copy()
    out = records[np.arange(first, end) & (cap - 1)]  # fancy indexing: a copy
    gone = max(int(w[W_PUBLISHED]), int(w[W_CLAIM])) - cap - first
    if gone > 0:
        first, out = first + gone, out[gone:]
    return first, out


def max_readers_of(seg: Segment) -> int:
    return seg.header.control_blocks - 1


def parked_view(seg: Segment) -> memoryview:
    """The parked bytes of block 0, one per reader slot."""
    start = BLOCK_BYTES + PARKED_BYTE0
    return seg.buf[start : start + MAX_READERS].cast("B")


def reader_slot(seg: Segment, index: int) -> memoryview:
    return seg.block(1 + index)


def live(pid: int, start_ticks: int) -> bool:
    """True if `pid` still runs as the same process."""
    return process_alive(pid, start_ticks)


def my_identity() -> tuple[int, int]:
    pid = os.getpid()
    return pid, process_start_ticks(pid)


SLOT_TABLE_MAX: Final = 8192  # above this many records the one-record paths slice on demand


def record_views(body: memoryview, record_size: int, capacity: int) -> list[memoryview] | None:
    """Per-record byte views: a precomputed list (no slicing in the one-record hot path,
    ~200 bytes per record) for rings up to SLOT_TABLE_MAX records; None for larger rings,
    whose one-record paths (shm._fastpath) slice the body inline instead."""
    if capacity <= SLOT_TABLE_MAX:
        return [body[i * record_size : (i + 1) * record_size] for i in range(capacity)]
    return None


def release_views(views: list[memoryview] | None) -> None:
    if isinstance(views, list):
        for view in views:
            view.release()
