"""A look at a ring from outside: its published cursor and copies of the records it still holds.

An observer takes no reader slot, so the writer never waits for it and it moves no cursor:
for metrics sampling at scrape time and for reading kept rings after a run.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from shm import _control as c
from shm.segment import DEFAULT_DIRECTORY, Segment


class RingObserver:
    """Attach with `RingObserver.attach`; copies are seqlock-checked, never torn."""

    def __init__(self, seg: Segment, dtype: np.dtype[np.void]) -> None:
        self.segment = seg
        self.name = seg.name
        self.dtype = dtype
        self.capacity = seg.header.capacity
        self._w = seg.block(0)
        self._body = seg.body()
        self._records = np.frombuffer(self._body, dtype=dtype)
        self._closed = False

    @classmethod
    def attach(cls, name: str, dtype: np.dtype[Any],
               directory: Path | str = DEFAULT_DIRECTORY) -> RingObserver:
        """Attach ring `name`, refusing a different record layout."""
        dtype = np.dtype(dtype)
        return cls(c.attach_segment(name, dtype, directory), dtype)

    def published(self) -> int:
        """Records published so far: positions [0, published) have been written."""
        return int(self._w[c.W_PUBLISHED])

    def history(self, start: int, end: int | None = None) -> tuple[int, np.ndarray]:
        """Copies of the records at positions [start, end) (default: up to `published()`)
        that the ring still holds, oldest first, and the position of the first returned."""
        return c.history(self._records, self._w, self.capacity, start,
                         self.published() if end is None else end)

    def stale(self) -> bool:
        """True once the ring was re-created or retired (attach again for the new one)."""
        return self.segment.stale()

    def close(self) -> None:
        """Detach. Idempotent."""
        if self._closed:
            return
        self._closed = True
        del self._records  # the array holds the body's buffer: drop it before the release
        self._w.release()
        self._body.release()
        self.segment.close()

    def __enter__(self) -> RingObserver:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
