"""The supervisor's status table: one 256-byte slot per engine instance in one segment.

nautilusd writes pid, generation and lifecycle state; the engine in the slot writes its
phase, ready flag, heartbeat and counters. Each field has one writer; readers (the
supervisor, metrics, nautilusctl) take plain aligned 8-byte loads, so reads cost nothing on
the engines' hot paths.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType
from typing import Final

import numpy as np

from shm.errors import ReaderSlotError
from shm.segment import DEFAULT_DIRECTORY, KIND_STATUS, Segment

SLOT_BYTES: Final = 256
NAME_BYTES: Final = 64

# Word indexes (int64) inside a slot; the name occupies the last NAME_BYTES bytes.
W_PID: Final = 0  # nautilusd: pid of the current process, 0 when none
W_GENERATION: Final = 1  # nautilusd: bumped on every spawn into this slot
W_STATE: Final = 2  # nautilusd: lifecycle state code (nautilusd.states.State.code)
W_PHASE: Final = 3  # engine: PHASE_* below
W_READY: Final = 4  # engine: 1 once ready for traffic, 0 while starting or draining
W_HEARTBEAT_NS: Final = 5  # engine: CLOCK_MONOTONIC ns of its last heartbeat
W_STARTED_NS: Final = 6  # engine: CLOCK_MONOTONIC ns when its runner started
W_RECORDS_IN: Final = 7  # engine: records consumed
W_RECORDS_OUT: Final = 8  # engine: records produced
W_ERRORS: Final = 9  # engine: errors counted (bad input, failed handlers)
W_DROPPED: Final = 10  # engine: records dropped (gaps seen, undecodable messages)
W_CUSTOM0: Final = 11  # engine: five engine-defined counters, W_CUSTOM0 .. W_CUSTOM0 + 4
CUSTOM_COUNTERS: Final = 5
W_RESTARTS: Final = 16  # nautilusd: restarts of this slot since the daemon started
W_EXIT_CODE: Final = 17  # nautilusd: last exit code (>= 0) or -signal, NO_EXIT if none
NO_EXIT: Final = -(2**62)

PHASE_NONE: Final = 0
PHASE_STARTING: Final = 1
PHASE_READY: Final = 2
PHASE_DRAINING: Final = 3
PHASE_STOPPED: Final = 4

STATUS_DTYPE: Final = np.dtype(
    [
        ("pid", "<i8"),
        ("generation", "<i8"),
        ("state", "<i8"),
        ("phase", "<i8"),
        ("ready", "<i8"),
        ("heartbeat_ns", "<i8"),
        ("started_ns", "<i8"),
        ("records_in", "<i8"),
        ("records_out", "<i8"),
        ("errors", "<i8"),
        ("dropped", "<i8"),
        ("custom", "<i8", (CUSTOM_COUNTERS,)),
        ("restarts", "<i8"),
        ("exit_code", "<i8"),
        ("_reserved", "<i8", (SLOT_BYTES // 8 - 18 - NAME_BYTES // 8,)),
        ("name", f"S{NAME_BYTES}"),
    ]
)
STATUS_FINGERPRINT: Final = 0x5354415455535631  # b"1VSUTATS": version 1 of STATUS_DTYPE


class StatusSlot:
    """One engine's slot: cheap int64 loads and stores through a `memoryview`."""

    __slots__ = ("_raw", "index", "words")

    def __init__(self, raw: memoryview, index: int) -> None:
        self.index = index
        self._raw = raw
        self.words = raw.cast("q")

    def heartbeat(self, now_ns: int | None = None) -> None:
        """Record liveness; call at least every few milliseconds from the engine loop."""
        self.words[W_HEARTBEAT_NS] = time.monotonic_ns() if now_ns is None else now_ns

    def set_phase(self, phase: int) -> None:
        self.words[W_PHASE] = phase

    def set_ready(self, ready: bool) -> None:
        self.words[W_READY] = 1 if ready else 0

    def add(self, word: int, n: int = 1) -> None:
        """Add `n` to the counter at word index `word` (e.g. W_RECORDS_IN)."""
        self.words[word] += n

    def get(self, word: int) -> int:
        return int(self.words[word])

    def put(self, word: int, value: int) -> None:
        self.words[word] = value

    @property
    def name(self) -> str:
        return bytes(self._raw[SLOT_BYTES - NAME_BYTES :]).rstrip(b"\0").decode(errors="replace")

    def set_name(self, name: str) -> None:
        encoded = name.encode()[:NAME_BYTES]
        self._raw[SLOT_BYTES - NAME_BYTES :] = encoded.ljust(NAME_BYTES, b"\0")

    def reset(self, name: str) -> None:
        """Zero the slot for a new owner (nautilusd only)."""
        self._raw[:] = bytes(SLOT_BYTES)
        self.words[W_EXIT_CODE] = NO_EXIT
        self.set_name(name)

    def release(self) -> None:
        self.words.release()
        self._raw.release()


class StatusTable:
    """The table of slots; created by nautilusd, attached by engines and observers."""

    def __init__(self, segment: Segment) -> None:
        self.segment = segment
        self.slots = segment.header.capacity
        self._slots: dict[int, StatusSlot] = {}

    @classmethod
    def create(
        cls, name: str, slots: int, directory: Path | str = DEFAULT_DIRECTORY
    ) -> StatusTable:
        seg = Segment.create(
            name, kind=KIND_STATUS, fingerprint=STATUS_FINGERPRINT, capacity=slots,
            record_size=SLOT_BYTES, directory=directory,
        )
        return cls(seg)

    @classmethod
    def attach(cls, name: str, directory: Path | str = DEFAULT_DIRECTORY) -> StatusTable:
        seg = Segment.attach(
            name, kind=KIND_STATUS, fingerprint=STATUS_FINGERPRINT, record_size=SLOT_BYTES,
            directory=directory,
        )
        return cls(seg)

    def slot(self, index: int) -> StatusSlot:
        """The slot at `index`, cached; raises ReaderSlotError when out of range."""
        if not 0 <= index < self.slots:
            raise ReaderSlotError(
                f"status slot {index} out of range 0..{self.slots - 1} in {self.segment.name!r}"
            )
        found = self._slots.get(index)
        if found is None:
            start = index * SLOT_BYTES
            found = StatusSlot(self.segment.body()[start : start + SLOT_BYTES], index)
            self._slots[index] = found
        return found

    def snapshot(self) -> np.ndarray:
        """A copy of every slot as a STATUS_DTYPE array (for metrics and status replies)."""
        body = self.segment.body()
        try:
            return np.frombuffer(body, dtype=STATUS_DTYPE).copy()
        finally:
            body.release()

    def close(self) -> None:
        for slot in self._slots.values():
            slot.release()
        self._slots.clear()
        self.segment.close()

    def __enter__(self) -> StatusTable:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        owner = self.segment.owner
        self.close()
        if owner:
            self.segment.unlink()


if STATUS_DTYPE.itemsize != SLOT_BYTES:  # pragma: no cover - a layout bug, caught at import
    raise AssertionError(f"status slot is {STATUS_DTYPE.itemsize} bytes, not {SLOT_BYTES}")
