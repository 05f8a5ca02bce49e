"""Doorbells: one named FIFO per reader slot, next to the ring segment (`<segment>.r<k>.bell`).

A parked reader sleeps on its FIFO; the writer writes one byte to it, and only when that
reader's parked flag is set, so the hot path never makes a system call for nobody.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from shm.errors import UnsafeFileError
from shm.fileguard import check_path_owned, open_owned

_DRAIN_BYTES = 4096


def make_fifo(path: Path) -> None:
    """Create (or re-create, dropping stale bytes) the FIFO at `path`, mode 0600."""
    path.unlink(missing_ok=True)
    os.mkfifo(path, 0o600)


def remove_fifo(path: Path) -> None:
    path.unlink(missing_ok=True)


class Doorbell:
    """The reader's end. Opened O_RDWR so the reader never sees EOF when no writer is open."""

    __slots__ = ("fd", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1
        # Ours and a FIFO, or refused (a symlink or a planted file is never opened through).
        if not check_path_owned(path, stat.S_IFIFO):
            make_fifo(path)
        self.fd = open_owned(path, os.O_RDWR | os.O_NONBLOCK, stat.S_IFIFO)

    def fileno(self) -> int:
        return self.fd

    def drain(self) -> int:
        """Consume every pending ring; returns the bytes read. The read takes the pipe lock,
        a locked instruction that also orders the caller's earlier stores before later loads."""
        total = 0
        while True:
            try:
                got = len(os.read(self.fd, _DRAIN_BYTES))
            except BlockingIOError:
                return total
            total += got
            if got < _DRAIN_BYTES:
                return total

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class BellRinger:
    """The writer's end: opens each reader's FIFO lazily, O_WRONLY|O_NONBLOCK."""

    __slots__ = ("_fds", "_paths", "rings")

    def __init__(self, paths: list[Path]) -> None:
        self._paths = paths
        self._fds: list[int] = [-1] * len(paths)
        self.rings = 0

    def ring(self, index: int) -> bool:
        """Wake reader `index`; False when nobody has its FIFO open (nobody to wake)."""
        fd = self._fds[index]
        if fd < 0:
            try:
                fd = open_owned(self._paths[index], os.O_WRONLY | os.O_NONBLOCK, stat.S_IFIFO)
            except UnsafeFileError:
                return False  # not our doorbell: nobody of ours to wake there
            except OSError as exc:
                if exc.errno in (errno.ENXIO, errno.ENOENT):
                    return False
                raise
            self._fds[index] = fd
        try:
            os.write(fd, b"\x01")
        except BlockingIOError:
            return True  # the FIFO is full of rings already: the reader will wake
        except OSError:
            # The reader closed its end (EPIPE) or the FIFO was replaced: reopen next time.
            os.close(fd)
            self._fds[index] = -1
            return False
        self.rings += 1
        return True

    def close(self) -> None:
        for i, fd in enumerate(self._fds):
            if fd >= 0:
                os.close(fd)
                self._fds[i] = -1
