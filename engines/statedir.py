"""The instance's state directory: what must outlive every kind of stop (kill switch, risk
state, the journal, outboxes, tokens), kept in a 0700 directory owned by the daemon's user.

The daemon creates it before any engine starts (`StateDir.create`); an engine reaches it as
`ctx.state` (a `StateDir` on `ctx.state_dir`). Every file is opened relative to the
directory's own descriptor with O_NOFOLLOW, then fstat-checked: a symlink, a file of another
owner or one readable by others is refused with a StateError naming it, never followed.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from engines.errors import StateError

# Written by nautilusd the first time every engine was ready with this state dir: from then
# on a state file missing here is lost state (fail closed), not a first start.
STARTED_MARKER = "started"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _check_owned(path: object, st: os.stat_result, kind: str) -> None:
    """Refuse `st` unless it is a `kind` ('dir'/'file') of ours that nobody else can open."""
    is_kind = stat.S_ISDIR(st.st_mode) if kind == "dir" else stat.S_ISREG(st.st_mode)
    if not is_kind:
        raise StateError(path, f"not a regular {'directory' if kind == 'dir' else 'file'}")
    if st.st_uid != os.geteuid():
        raise StateError(path, f"owned by uid {st.st_uid}, not {os.geteuid()}")
    if st.st_mode & 0o077:
        raise StateError(path, f"mode {stat.S_IMODE(st.st_mode):o} lets others in (want 0700/0600)")


def _plain(name: str) -> str:
    if not name or "/" in name or name in (".", ".."):
        raise StateError(name, "a state file name must be one plain path component")
    return name


class StateDir:
    """One verified 0700 directory; `open` gives verified 0600 files inside it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, path: Path) -> StateDir:
        """Make `path` (0700; missing parents 0700 too) unless it exists, then verify it: the
        last component must not be a symlink, and must be ours and closed to others."""
        path = Path(path).absolute()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
        state = cls(path)
        os.close(state._dir_fd())
        return state

    def _dir_fd(self) -> int:
        try:
            fd = os.open(self.path, _DIR_FLAGS)
        except OSError as exc:
            raise StateError(self.path, f"cannot open the directory: {exc.strerror}") from None
        try:
            _check_owned(self.path, os.fstat(fd), "dir")
        except StateError:
            os.close(fd)
            raise
        return fd

    def subdir(self, name: str) -> StateDir:
        """The 0700 directory `name` inside this one, made if missing, verified."""
        fd = self._dir_fd()
        try:
            os.mkdir(_plain(name), 0o700, dir_fd=fd)
        except FileExistsError:
            pass
        finally:
            os.close(fd)
        sub = StateDir(self.path / name)
        os.close(sub._dir_fd())
        return sub

    def open(self, name: str, flags: int = os.O_RDONLY, mode: int = 0o600) -> int:
        """A descriptor on file `name` here (flags as os.open; O_NOFOLLOW and O_CLOEXEC are
        added), verified to be a regular file of ours closed to others. The caller closes it."""
        dir_fd = self._dir_fd()
        try:
            fd = os.open(_plain(name), flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
        except OSError as exc:
            raise StateError(self.path / name, exc.strerror or str(exc)) from exc
        finally:
            os.close(dir_fd)
        try:
            _check_owned(self.path / name, os.fstat(fd), "file")
        except StateError:
            os.close(fd)
            raise
        return fd

    def exists(self, name: str) -> bool:
        return os.path.lexists(self.path / _plain(name))

    def names(self) -> list[str]:
        """Entries here, sorted."""
        return sorted(os.listdir(self.path))

    def replace(self, src: str, dst: str, fsync: bool = True) -> None:
        """Rename `src` over `dst` atomically and make the rename durable (fsync the dir)."""
        fd = self._dir_fd()
        try:
            os.replace(_plain(src), _plain(dst), src_dir_fd=fd, dst_dir_fd=fd)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)

    def unlink(self, name: str) -> None:
        fd = self._dir_fd()
        try:
            os.unlink(_plain(name), dir_fd=fd)
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)

    def sync(self) -> None:
        """fsync the directory itself: new and removed names become durable."""
        fd = self._dir_fd()
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def write_atomic(self, name: str, data: bytes, fsync: bool = True) -> None:
        """Replace file `name` with `data` all at once: written (and fsynced) beside it, then
        renamed; fsync=False survives a process kill but not a power cut."""
        tmp = f".{name}.tmp"
        self.unlink(tmp)
        fd = self.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        self.replace(tmp, name, fsync)

    def read(self, name: str) -> bytes | None:
        """The contents of file `name`, or None when it does not exist (other errors raise)."""
        if not self.exists(name):
            return None
        fd = self.open(name)
        try:
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)
