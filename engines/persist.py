"""Small engine state that must survive every stop, kept in a mapped file in the state dir.

Named int64/float64 arrays back to back after a 64-byte header (magic, layout fingerprint) in
`<state_dir>/<name>`; a write to an array is in the file as it happens (a SIGKILL keeps it,
`flush` makes it durable). The file is never zeroed behind the caller's back: a file of
another size or layout is kept aside as `<name>.mismatched` and `status` says so, so the
caller applies its safe default (risk: kill switch engaged, reason state_lost).
"""

from __future__ import annotations

import enum
import hashlib
import mmap
import os
import struct

import numpy as np

from engines.statedir import STARTED_MARKER, StateDir

MAGIC = b"NDSTATE1"
HEADER_BYTES = 64
_HEADER = struct.Struct("<8sQ")


class StateStatus(enum.Enum):
    CREATED = "created"  # there was no file: everything starts at zero
    LOADED = "loaded"  # the file matched its layout: every array is as it was left
    MISMATCHED = "mismatched"  # wrong size or layout: set aside, a zeroed one in its place


def layout_fingerprint(layout: dict[str, tuple[str, int]]) -> int:
    descr = repr(sorted((k, np.dtype(dt).str, n) for k, (dt, n) in layout.items())).encode()
    return int.from_bytes(hashlib.blake2b(descr, digest_size=8).digest(), "little") >> 1


class StateFile:
    """`arrays[name]` are numpy views on the mapping: writes are persistent as they happen."""

    def __init__(self, state: StateDir, name: str, layout: dict[str, tuple[str, int]]) -> None:
        sizes = {k: np.dtype(dt).itemsize * n for k, (dt, n) in layout.items()}
        total = HEADER_BYTES + sum(sizes.values())
        header = _HEADER.pack(MAGIC, layout_fingerprint(layout))
        self.path = state.path / name
        self._after_ready = state.exists(STARTED_MARKER)  # a daemon was ready here before
        self.status = StateStatus.LOADED
        if state.exists(name) and not self._matches(state, name, total, header):
            state.replace(name, f"{name}.mismatched")
            self.status = StateStatus.MISMATCHED
        if not state.exists(name):
            self._create(state, name, total, header)
            self.status = StateStatus.CREATED if self.status is StateStatus.LOADED \
                else self.status
        fd = state.open(name, os.O_RDWR)
        try:
            self._map = mmap.mmap(fd, total)
        finally:
            os.close(fd)
        self.arrays: dict[str, np.ndarray] = {}
        offset = HEADER_BYTES
        for key, (dt, n) in layout.items():
            self.arrays[key] = np.frombuffer(self._map, dtype=dt, count=n, offset=offset)
            offset += sizes[key]

    @staticmethod
    def _matches(state: StateDir, name: str, total: int, header: bytes) -> bool:
        fd = state.open(name, os.O_RDONLY)
        try:
            return os.fstat(fd).st_size == total and os.pread(fd, len(header), 0) == header
        finally:
            os.close(fd)

    @staticmethod
    def _create(state: StateDir, name: str, total: int, header: bytes) -> None:
        """A zeroed file with its header, made whole beside the name and renamed in."""
        tmp = f".{name}.new"
        state.unlink(tmp)
        fd = state.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL)
        try:
            os.ftruncate(fd, total)
            os.pwrite(fd, header, 0)
            os.fsync(fd)
        finally:
            os.close(fd)
        state.replace(tmp, name)

    @property
    def lost(self) -> bool:
        """What this file held is gone: it did not match, or it is missing once this state
        dir has seen a ready daemon. The caller applies its safe value, never the zeros."""
        return self.status is StateStatus.MISMATCHED or (
            self.status is StateStatus.CREATED and self._after_ready)

    def flush(self) -> None:
        """Make every array durable now (msync): after an operator's action, and at stop."""
        self._map.flush()
