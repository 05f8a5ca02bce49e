"""Named shared-memory segments: one file under /dev/shm (or hugetlbfs), mmapped, with a header.

A segment is created 0600 by its owner (nautilusd), attached by name by engines, and
unlinked by its owner. Page 0 holds the header (block 0) and 128-byte control blocks that
the kind of segment (ring, status table) lays out itself; the body starts page-aligned.
"""

from __future__ import annotations

import mmap
import os
import re
import stat
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from shm.errors import AttachError, SegmentExistsError, SegmentNotFoundError, ShmError
from shm.fileguard import PRIVATE_MODE, check_owned, open_owned
from shm.liveness import process_alive, process_start_ticks

MAGIC = 0x314D48535455414E  # b"NAUTSHM1" little-endian
LAYOUT_VERSION = 1
BLOCK_BYTES = 128
PAGE_BYTES = mmap.PAGESIZE
DEFAULT_DIRECTORY = Path("/dev/shm")

KIND_RING = 1
KIND_STATUS = 2

FLAG_RETIRED = 1  # set on a segment that was replaced; attached parties must re-attach

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
# magic, version, kind, fingerprint, capacity, record_size, policy, flags, epoch,
# owner_pid, owner_start_ticks, writer_pid, data_offset, total_bytes, control_blocks, created_ns
_HEADER = struct.Struct("<QIIQQQIIQqQqQQQq")
# Byte offsets of the fields that change after creation (read/written as aligned int64).
OFF_FLAGS = 44
OFF_EPOCH = 48
OFF_OWNER_PID = 56
OFF_OWNER_START_TICKS = 64
OFF_WRITER_PID = 72


@dataclass(frozen=True, slots=True)
class Header:
    """The decoded header of a segment."""

    magic: int
    version: int
    kind: int
    fingerprint: int
    capacity: int
    record_size: int
    policy: int
    flags: int
    epoch: int
    owner_pid: int
    owner_start_ticks: int
    writer_pid: int
    data_offset: int
    total_bytes: int
    control_blocks: int
    created_ns: int


def validate_name(name: str) -> str:
    """Return `name` if it is a valid segment name, else raise naming it."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ShmError(f"invalid segment name {name!r}: use letters, digits, '.', '_', '-'")
    return name


def _round_up(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def _alloc_unit(directory: Path) -> int:
    # hugetlbfs reports its huge page size as the block size; tmpfs reports the page size.
    return max(PAGE_BYTES, os.statvfs(directory).f_bsize)


class Segment:
    """One mapped segment. Use `Segment.create` (owner) or `Segment.attach` (everyone else)."""

    def __init__(self, name: str, path: Path, fd: int, mm: mmap.mmap, owner: bool) -> None:
        self.name = name
        self.path = path
        self._fd = fd
        self._mm: mmap.mmap | None = mm
        self.buf = memoryview(mm)
        self.words = self.buf[:BLOCK_BYTES].cast("q")
        self.owner = owner
        self.header = read_header(self.buf)
        self.epoch = self.header.epoch

    # -- creation and attachment -------------------------------------------------------------

    @classmethod
    def create(
        cls,
        name: str,
        *,
        kind: int,
        fingerprint: int,
        capacity: int,
        record_size: int,
        policy: int = 0,
        control_blocks: int = 0,
        directory: Path | str = DEFAULT_DIRECTORY,
        reclaim_stale: bool = True,
        trailer_bytes: int = 0,
    ) -> Segment:
        """Create the segment 0600; a stale one of a dead owner is reclaimed (epoch bumped).
        `trailer_bytes` (zeroed) follow the body, for the kind to lay out (a ring's board)."""
        directory = Path(directory)
        path = directory / validate_name(name)
        header_bytes = BLOCK_BYTES * (1 + control_blocks)
        data_offset = _round_up(header_bytes, PAGE_BYTES)
        total = _round_up(data_offset + capacity * record_size + trailer_bytes,
                          _alloc_unit(directory))
        epoch = 1
        if os.path.lexists(path):
            epoch = _retire_stale(path, name, reclaim_stale) + 1
        # O_EXCL|O_NOFOLLOW: a file or symlink planted since the look above fails the open.
        flags = os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_RDWR
        fd = os.open(path, flags, PRIVATE_MODE)
        try:
            os.fchmod(fd, PRIVATE_MODE)
            check_owned(os.fstat(fd), path)
            os.ftruncate(fd, total)
            mm = mmap.mmap(fd, total, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        pid = os.getpid()
        fields = Header(
            0, LAYOUT_VERSION, kind, fingerprint, capacity, record_size, policy, 0, epoch,
            pid, process_start_ticks(pid), 0, data_offset, total, control_blocks,
            time.time_ns(),
        )
        _HEADER.pack_into(mm, 0, *_header_tuple(fields))
        # The magic goes in last: an attacher never sees a half-written header as valid.
        struct.pack_into("<Q", mm, 0, MAGIC)
        return cls(name, path, fd, mm, owner=True)

    @classmethod
    def attach(
        cls,
        name: str,
        *,
        kind: int,
        fingerprint: int | None = None,
        capacity: int | None = None,
        record_size: int | None = None,
        directory: Path | str = DEFAULT_DIRECTORY,
    ) -> Segment:
        """Map an existing segment, refusing any mismatch with an error naming both values."""
        path = Path(directory) / validate_name(name)
        try:
            fd = open_owned(path, os.O_RDWR)  # ours alone, or UnsafeFileError before a read
        except FileNotFoundError:
            raise SegmentNotFoundError(f"no segment {name!r} in {directory}") from None
        try:
            size = os.fstat(fd).st_size
            if size < BLOCK_BYTES:
                raise AttachError(name, "size", f">= {BLOCK_BYTES} bytes", size)
            mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            raise
        seg = cls(name, path, fd, mm, owner=False)
        try:
            seg._check(kind, fingerprint, capacity, record_size, size)
        except BaseException:
            seg.close()
            raise
        return seg

    def _check(
        self, kind: int, fingerprint: int | None, capacity: int | None,
        record_size: int | None, size: int,
    ) -> None:
        h = self.header
        expected: list[tuple[str, object, object]] = [
            ("magic", hex(MAGIC), hex(h.magic)),
            ("layout version", LAYOUT_VERSION, h.version),
            ("kind", kind, h.kind),
        ]
        if fingerprint is not None:
            expected.append(("dtype fingerprint", hex(fingerprint), hex(h.fingerprint)))
        if capacity is not None:
            expected.append(("capacity", capacity, h.capacity))
        if record_size is not None:
            expected.append(("record size", record_size, h.record_size))
        for field, want, got in expected:
            if want != got:
                raise AttachError(self.name, field, want, got)
        if h.total_bytes != size or h.data_offset + h.capacity * h.record_size > size:
            raise AttachError(self.name, "file size", h.total_bytes, size)
        if h.data_offset < BLOCK_BYTES * (1 + h.control_blocks):  # blocks would overlap data
            raise AttachError(self.name, "data offset",
                              f">= {BLOCK_BYTES * (1 + h.control_blocks)}", h.data_offset)
        if h.flags & FLAG_RETIRED:
            raise AttachError(self.name, "state", "live", "retired")

    # -- live fields ---------------------------------------------------------------------------

    def current_epoch(self) -> int:
        """The epoch now in shared memory (differs from `self.epoch` after a re-init)."""
        return int(self.words[OFF_EPOCH // 8])

    def retired(self) -> bool:
        return bool(self.words[OFF_FLAGS // 8] >> 32 & FLAG_RETIRED)

    def stale(self) -> bool:
        """True if the segment was re-initialised or retired since this party attached."""
        return self.current_epoch() != self.epoch or self.retired()

    def take_ownership(self) -> None:
        """Become the owner of an attached segment whose owner died: the header names this
        process from now on, and leaving a `with` block unlinks the segment."""
        me = os.getpid()
        self.words[OFF_OWNER_START_TICKS // 8] = process_start_ticks(me)
        self.words[OFF_OWNER_PID // 8] = me
        self.owner = True

    def set_writer_pid(self, pid: int) -> None:
        self.words[OFF_WRITER_PID // 8] = pid

    def writer_pid(self) -> int:
        return int(self.words[OFF_WRITER_PID // 8])

    def block(self, index: int) -> memoryview:
        """Control block `index` (0-based, after the header) as a 16-word int64 view."""
        start = BLOCK_BYTES * (1 + index)
        return self.buf[start : start + BLOCK_BYTES].cast("q")

    def body(self) -> memoryview:
        """The data area, `capacity * record_size` bytes."""
        h = self.header
        return self.buf[h.data_offset : h.data_offset + h.capacity * h.record_size]

    # -- lifetime -----------------------------------------------------------------------------

    def close(self) -> None:
        """Unmap and close; other parties keep their mappings. Idempotent."""
        if self._mm is None:
            return
        try:
            self.words.release()
            self.buf.release()
            self._mm.close()
        except BufferError:
            # A caller still holds a view into the mapping; the map goes when they drop it.
            pass
        os.close(self._fd)
        self._mm = None

    def unlink(self) -> None:
        """Remove the name; mapped parties keep working until they close."""
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> Segment:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        if self.owner:
            self.unlink()


def _header_tuple(h: Header) -> tuple[int, ...]:
    return (
        h.magic, h.version, h.kind, h.fingerprint, h.capacity, h.record_size, h.policy,
        h.flags, h.epoch, h.owner_pid, h.owner_start_ticks, h.writer_pid, h.data_offset,
        h.total_bytes, h.control_blocks, h.created_ns,
    )


def read_header(buf: memoryview | bytes | mmap.mmap) -> Header:
    """Decode the header at the start of `buf`."""
    return Header(*_HEADER.unpack_from(buf, 0))


def read_header_file(path: Path) -> Header | None:
    """Header of the segment file at `path`, or None when it is missing or too short to hold
    one; UnsafeFileError when what is there is not ours alone (a symlink, another owner, a
    mode open to others, a FIFO): its bytes are never read."""
    try:
        # O_NONBLOCK: a FIFO planted at a segment's name must never block this open.
        fd = open_owned(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    try:
        raw = os.pread(fd, _HEADER.size, 0)
    except OSError:
        return None
    finally:
        os.close(fd)
    return read_header(raw) if len(raw) == _HEADER.size else None


def _retire_stale(path: Path, name: str, reclaim: bool) -> int:
    """Retire the segment at `path` if its owner is dead; return its epoch (0 if unreadable)."""
    header = read_header_file(path)
    if header is not None and header.magic == MAGIC:
        if process_alive(header.owner_pid, header.owner_start_ticks) and (
            header.owner_pid != os.getpid()
        ):
            raise SegmentExistsError(
                f"segment {name!r} exists at {path} and its owner pid {header.owner_pid} is alive"
            )
        if not reclaim:
            raise SegmentExistsError(f"segment {name!r} exists at {path} (stale, not reclaimed)")
        _mark_retired(path, header)
    path.unlink(missing_ok=True)
    return header.epoch if header is not None and header.magic == MAGIC else 0


def _mark_retired(path: Path, header: Header) -> None:
    # Parties still mapping the old file see the epoch bump and the retired flag.
    try:
        fd = open_owned(path, os.O_RDWR)
    except FileNotFoundError:
        return
    try:
        if os.fstat(fd).st_size < BLOCK_BYTES:
            return
        with mmap.mmap(fd, BLOCK_BYTES) as mm:
            words = memoryview(mm).cast("q")
            words[OFF_FLAGS // 8] = (header.flags | FLAG_RETIRED) << 32 | header.policy
            words[OFF_EPOCH // 8] = header.epoch + 1
            words.release()
    finally:
        os.close(fd)


def reclaim_stale(prefix: str, directory: Path | str = DEFAULT_DIRECTORY) -> list[str]:
    """Unlink every segment named `prefix*` whose owner is dead; return the names removed."""
    removed = []
    for path in sorted(Path(directory).glob(f"{prefix}*")):
        if stat.S_ISFIFO(os.lstat(path).st_mode):
            check_owned(os.lstat(path), path, stat.S_IFIFO)
            header = None
        else:
            header = read_header_file(path)
        if header is not None and header.magic == MAGIC and process_alive(
            header.owner_pid, header.owner_start_ticks
        ):
            continue
        if path.name.endswith(".bell"):
            segment = path.with_name(path.name.rsplit(".r", 1)[0])
            if segment.exists() and segment.name not in removed:
                continue  # the doorbell of a live ring
        elif header is not None and header.magic == MAGIC:
            _mark_retired(path, header)
        path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed
