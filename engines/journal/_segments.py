"""The journal's files: segmented, checksummed, append-only, in `<state_dir>/journal/`.

A segment `seg-<first seq>.log` opens with an 8-byte magic, then frames: `len u32, crc32 u32,
seq u64, kind u16` and `len` payload bytes; the crc covers seq, kind and payload. A crash
can leave a torn last frame: `repair` finds the last whole, checksummed frame and truncates
after it, so nothing before the cut is lost and nothing after it is replayed.
"""

from __future__ import annotations

import collections
import enum
import os
import struct
import time
import zlib
from collections.abc import Iterator

from engines.errors import StateError
from engines.statedir import StateDir

MAGIC = b"NDJRNL01"
FRAME = struct.Struct("<IIQH")  # payload length, crc32, seq, kind
_CRC_FROM = 8  # the crc covers the frame header from seq on, then the payload
MAX_PAYLOAD_BYTES = 1 << 20
FSYNC_SAMPLES = 100_000  # fsync durations kept for the bench


class Fsync(enum.Enum):
    """When appended records become durable (survive a power cut, not only a crash)."""

    BATCH = "batch"  # every commit (one fsync per group of records: group commit)
    INTERVAL = "interval"  # at most `fsync_interval_s` after the commit
    NONE = "none"  # when the kernel writes its page cache back (a crash keeps them)


def segment_name(first_seq: int) -> str:
    return f"seg-{first_seq:020d}.log"


def frames(data: bytes | memoryview, start: int = len(MAGIC)) -> Iterator[tuple[int, int, int,
                                                                                 memoryview]]:
    """(offset, seq, kind, payload) of each whole, checksummed frame from `start`, stopping
    at the first torn or corrupt one (the caller's end of valid data is that offset)."""
    view = memoryview(data)
    pos, end = start, len(view)
    while pos + FRAME.size <= end:
        length, crc, seq, kind = FRAME.unpack_from(view, pos)
        body = pos + FRAME.size
        if length > MAX_PAYLOAD_BYTES or body + length > end:
            return
        if zlib.crc32(view[body:body + length], zlib.crc32(view[pos + _CRC_FROM:body])) != crc:
            return
        yield pos, seq, kind, view[body:body + length]
        pos = body + length


def valid_end(data: bytes) -> tuple[int, int]:
    """(offset after the last whole frame, last seq or -1) of one segment's bytes."""
    if data[:len(MAGIC)] != MAGIC:
        return 0, -1
    end, last = len(MAGIC), -1
    for pos, seq, _kind, payload in frames(data):
        end, last = pos + FRAME.size + len(payload), seq
    return end, last


def encode(seq: int, kind: int, payload: bytes | memoryview) -> bytes:
    head = struct.pack("<QH", seq, kind)
    crc = zlib.crc32(payload, zlib.crc32(head))
    return struct.pack("<II", len(payload), crc) + head + bytes(payload)


class SegmentWriter:
    """Appends frames to the newest segment (repaired first), rotating at `segment_bytes`."""

    def __init__(self, state: StateDir, fsync: Fsync = Fsync.BATCH,
                 segment_bytes: int = 64 << 20, fsync_interval_s: float = 0.05) -> None:
        self.dir = state.subdir("journal")
        self.fsync, self.segment_bytes = fsync, segment_bytes
        self.fsync_interval_s = fsync_interval_s
        self.buf = bytearray()
        self.fd = -1
        self.size = 0
        self.last_synced = time.monotonic()
        self.fsyncs = 0
        # the latest fsync durations, for the bench: bounded, the engine runs for months
        self.fsync_ns: collections.deque[int] = collections.deque(maxlen=FSYNC_SAMPLES)
        self.repaired_bytes = 0
        self.next_seq = self._open_last()

    def _open_last(self) -> int:
        names = [n for n in self.dir.names() if n.startswith("seg-")]
        if not names:
            self._new_segment(0)
            return 0
        name = names[-1]
        data = self.dir.read(name) or b""
        end, last = valid_end(data)
        if end == 0:
            raise StateError(self.dir.path / name, "not a journal segment (bad magic)")
        self.fd = self.dir.open(name, os.O_WRONLY)
        if end < len(data):  # a torn tail: cut at the last whole record
            self.repaired_bytes = len(data) - end
            os.ftruncate(self.fd, end)
            os.fsync(self.fd)
        os.lseek(self.fd, end, os.SEEK_SET)
        self.size = end
        first = int(name[4:24])
        return last + 1 if last >= 0 else first

    def _new_segment(self, first_seq: int) -> None:
        if self.fd >= 0:
            os.fsync(self.fd)
            os.close(self.fd)
        self.fd = self.dir.open(segment_name(first_seq), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        os.write(self.fd, MAGIC)
        self.size = len(MAGIC)
        self.dir.sync()

    def append(self, kind: int, payload: bytes | memoryview) -> int:
        """Buffer one record; returns its seq. Nothing is written until commit()."""
        seq = self.next_seq
        self.buf += encode(seq, kind, payload)
        self.next_seq = seq + 1
        return seq

    def append_many(self, kind: int, records: memoryview, record_bytes: int) -> None:
        """Buffer every `record_bytes` slice of `records` as one record each."""
        seq, buf, pack, crc32 = self.next_seq, self.buf, struct.pack, zlib.crc32
        head_len = struct.pack("<I", record_bytes)
        for off in range(0, len(records), record_bytes):
            payload = records[off:off + record_bytes]
            head = pack("<QH", seq, kind)
            buf += head_len
            buf += pack("<I", crc32(payload, crc32(head)))
            buf += head
            buf += payload
            seq += 1
        self.next_seq = seq

    def commit(self) -> None:
        """Write what was buffered as one write, then fsync as the policy says."""
        if not self.buf:
            return
        with memoryview(self.buf) as whole:
            view = whole
            while view:
                view = view[os.write(self.fd, view):]
            del view
        self.size += len(self.buf)
        self.buf.clear()
        now = time.monotonic()
        if self.fsync is Fsync.BATCH or (
                self.fsync is Fsync.INTERVAL and now - self.last_synced >= self.fsync_interval_s):
            self._sync(now)
        if self.size >= self.segment_bytes:
            self._new_segment(self.next_seq)

    def _sync(self, now: float) -> None:
        t0 = time.perf_counter_ns()
        os.fsync(self.fd)
        self.fsyncs += 1
        self.fsync_ns.append(time.perf_counter_ns() - t0)
        self.last_synced = now

    def close(self) -> None:
        if self.fd >= 0:
            self.commit()
            os.fsync(self.fd)
            os.close(self.fd)
            self.fd = -1


def read_all(state: StateDir) -> Iterator[tuple[int, int, memoryview]]:
    """(seq, kind, payload) of every whole record in every segment, in order."""
    journal = state.subdir("journal")
    for name in journal.names():
        if not name.startswith("seg-"):
            continue
        data = journal.read(name) or b""
        if len(data) < len(MAGIC) and MAGIC.startswith(data):
            continue  # being created (its magic not written yet), or torn there: no records
        if data[:len(MAGIC)] != MAGIC:
            raise StateError(journal.path / name, "not a journal segment (bad magic)")
        for _pos, seq, kind, payload in frames(data):
            yield seq, kind, payload
