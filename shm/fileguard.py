"""Opening the files of shared memory safely: never through a symlink, never trusting a byte of
a file (segment, doorbell FIFO) or directory before fstat says it is ours and private.

`/dev/shm` is world-writable and segment names are predictable, so anyone may plant a file
(or a symlink) at a name we are about to use. Every open here is `O_NOFOLLOW`; the open file
must then be of the expected type, owned by our effective uid, with one link and no access
for group or others. Anything else raises UnsafeFileError naming path, owner, mode and type.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import stat
from pathlib import Path

from shm.errors import UnsafeFileError

PRIVATE_MODE = 0o600
_TYPE_NAMES = {stat.S_IFREG: "regular file", stat.S_IFIFO: "FIFO", stat.S_IFDIR: "directory",
               stat.S_IFLNK: "symlink", stat.S_IFCHR: "character device",
               stat.S_IFBLK: "block device", stat.S_IFSOCK: "socket"}


def owner_name(uid: int) -> str:
    """`name(uid)` when the uid has a passwd entry, else the bare number."""
    try:
        return f"{pwd.getpwuid(uid).pw_name}({uid})"
    except KeyError:
        return str(uid)


def describe(st: os.stat_result) -> str:
    """Owner, mode, type and link count of a file, for error messages."""
    kind = _TYPE_NAMES.get(stat.S_IFMT(st.st_mode), "special file")
    return (f"owner {owner_name(st.st_uid)}, mode {stat.S_IMODE(st.st_mode):04o}, {kind}, "
            f"{st.st_nlink} link{'s' if st.st_nlink != 1 else ''}")


def check_owned(st: os.stat_result, path: Path | str, file_type: int = stat.S_IFREG) -> None:
    """Raise UnsafeFileError unless `st` is a `file_type` of ours, one link, no group or other
    access (the setuid/setgid/sticky bits count as foreign too)."""
    problems = []
    if stat.S_IFMT(st.st_mode) != file_type:
        problems.append(f"not a {_TYPE_NAMES.get(file_type, 'file')}")
    if st.st_uid != os.geteuid():
        problems.append(f"not owned by uid {os.geteuid()}")
    if stat.S_IMODE(st.st_mode) & ~0o700:
        problems.append("accessible to others")
    if file_type != stat.S_IFDIR and st.st_nlink != 1:
        problems.append("hard-linked")
    if problems:
        raise UnsafeFileError(path, "; ".join(problems), describe(st))


def open_owned(path: Path | str, flags: int, file_type: int = stat.S_IFREG) -> int:
    """`os.open(path, flags)` without following a symlink, then `check_owned`; the fd or
    UnsafeFileError (the fd is closed). FileNotFoundError passes through."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFileError(path, "a symlink", _lstat_text(path)) from None
        raise
    try:
        check_owned(os.fstat(fd), path, file_type)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_path_owned(path: Path | str, file_type: int = stat.S_IFREG) -> bool:
    """False if nothing is at `path`; True if what is there passes `check_owned` (lstat:
    a symlink is refused), else UnsafeFileError."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    check_owned(st, path, file_type)
    return True


def ensure_dir(path: Path | str, *, shared_ok: bool = False) -> Path:
    """Create `path` 0700 (with missing parents, 0700) unless it exists; return it.

    It must then be a real directory (no symlink) of ours, closed to others, or, with
    `shared_ok`, a sticky directory of ours or root's (`/dev/shm` itself, where each file's
    own check protects us). Every ancestor must be writable by nobody but its owner (us or
    root) unless it is sticky, so nobody else can swap a component. Else UnsafeFileError:
    a directory planted by another uid at a predictable name is refused, never used.
    """
    path = Path(os.path.abspath(path))
    missing = [p for p in (path, *path.parents) if not os.path.lexists(p)]
    for created in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(created, 0o700)
    for ancestor in path.parents:
        _check_ancestor(ancestor)
    st = os.lstat(path)
    if not (shared_ok and _sticky_trusted(st)):
        check_owned(st, path, stat.S_IFDIR)
    return path


def _sticky_trusted(st: os.stat_result) -> bool:
    return stat.S_ISDIR(st.st_mode) and st.st_uid in (0, os.geteuid()) and bool(
        st.st_mode & stat.S_ISVTX)


def _check_ancestor(path: Path) -> None:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):  # a system link (/var/run -> /run): trusted if root's
        if st.st_uid != 0:
            raise UnsafeFileError(path, "a symlink not owned by root", describe(st))
        st = os.stat(path)
    writable_by_others = stat.S_IMODE(st.st_mode) & 0o022
    if st.st_uid not in (0, os.geteuid()) or (writable_by_others and not _sticky_trusted(st)):
        raise UnsafeFileError(path, "a parent directory others can change", describe(st))


def _lstat_text(path: Path | str) -> str:
    try:
        return describe(os.lstat(path))
    except OSError as exc:
        return f"unreadable: {exc.strerror}"

