"""Small engine state that must survive a restart, kept in a mapped file in the runtime dir.

Named int64/float64 arrays laid out back to back in `<runtime_dir>/<engine>.<kind>`; a new
ring (cursor 0) means a new session, so the caller asks for a fresh (zeroed) file then.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np


class StateFile:
    """`arrays[name]` are numpy views on the mapping: writes are persistent as they happen."""

    def __init__(self, path: Path, layout: dict[str, tuple[str, int]], fresh: bool) -> None:
        sizes = {name: np.dtype(dt).itemsize * n for name, (dt, n) in layout.items()}
        total = sum(sizes.values())
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if fresh or os.fstat(fd).st_size != total:
                os.ftruncate(fd, 0)  # zero everything: a new session starts clean
                os.ftruncate(fd, total)
            self._map = mmap.mmap(fd, total)
        finally:
            os.close(fd)
        self.path = path
        self.arrays: dict[str, np.ndarray] = {}
        offset = 0
        for name, (dt, n) in layout.items():
            self.arrays[name] = np.frombuffer(self._map, dtype=dt, count=n, offset=offset)
            offset += sizes[name]

    def flush(self) -> None:
        """Push the pages to the file (the mapping itself goes with the process)."""
        self._map.flush()
