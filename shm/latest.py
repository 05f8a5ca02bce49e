"""The latest-value board of a ring: the last record published per symbol, in the segment.

A reader that needs "the current quote of symbol s" (risk's price band, the venue's touch)
would otherwise read every record since its last look to find it. A ring created with
`latest_slots=N` keeps, after its body, one slot per symbol id 0..N-1 holding a copy of the
newest record of that symbol; the writer updates it right after publishing, so a look-up
costs one small copy whatever the record rate.

Layout, after the body (128-byte aligned):
    block 0: int64 words [slots, key byte offset, slot stride, record size]
    slot k:  at 128 + k * stride: word 0 the sequence (0 never written, odd while the writer
             copies, even when stable), the record's bytes from byte 8.
Each slot is a seqlock (x86-64 TSO, as the rings): the writer makes the sequence odd, copies,
makes it even; a reader copies between two equal even loads of it. A writer that died mid-copy
leaves the sequence odd: readers get no value for that symbol until the next writer's copy
(which makes it even again).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np

from shm._fastpath import native_board
from shm.errors import ShmError

KEY_FIELD = "symbol_id"
HEADER_BYTES = 128
SLOT_ALIGN = 128  # no two symbols share a cache-line pair
READ_TRIES = 4  # copies attempted while the writer keeps changing a slot

_KEY_FORMATS = {np.dtype("<u4"): "<I", np.dtype("<u2"): "<H", np.dtype("<u8"): "<Q"}


def _round_up(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def key_format(dtype: np.dtype) -> tuple[int, str]:
    """(byte offset, struct format) of the key field; ShmError when the layout has none."""
    fields = dtype.fields
    field = None if fields is None else fields.get(KEY_FIELD)
    if field is None or np.dtype(field[0]) not in _KEY_FORMATS:
        raise ShmError(f"a latest-value board needs an unsigned {KEY_FIELD!r} field; "
                       f"layout {dtype} has none")
    return int(field[1]), _KEY_FORMATS[np.dtype(field[0])]


def stride_of(record_size: int) -> int:
    return _round_up(8 + record_size, SLOT_ALIGN)


def board_offset(data_offset: int, capacity: int, record_size: int) -> int:
    return _round_up(data_offset + capacity * record_size, SLOT_ALIGN)


def board_bytes(dtype: np.dtype, slots: int) -> int:
    """Bytes a board of `slots` symbols takes after the body (0 for no board)."""
    if slots <= 0:
        return 0
    key_format(dtype)
    return SLOT_ALIGN + HEADER_BYTES + slots * stride_of(dtype.itemsize)  # + alignment slack


def init_board(buf: memoryview, offset: int, dtype: np.dtype, slots: int) -> None:
    """Write the board header of a new segment (its slots are zero: never written)."""
    key_off, _ = key_format(dtype)
    struct.pack_into("<qqqq", buf, offset, slots, key_off, stride_of(dtype.itemsize),
                     dtype.itemsize)


class Board:
    """One party's view of a ring's board; `Board.of` gives None for a ring without one."""

    def __init__(self, region: memoryview, dtype: np.dtype) -> None:
        slots, key_off, stride, rs = struct.unpack_from("<qqqq", region, 0)
        want_off, fmt = key_format(dtype)
        if (rs, key_off, stride) != (dtype.itemsize, want_off, stride_of(dtype.itemsize)) \
                or slots < 0 or HEADER_BYTES + slots * stride > len(region):
            raise ShmError(f"latest-value board header does not fit layout {dtype}: slots "
                           f"{slots}, key offset {key_off}, stride {stride}, record size {rs}")
        self.slots = int(slots)
        self.record_size = int(rs)
        self._region = region
        self._seq = region.cast("q")  # word (HEADER_BYTES + k * stride) / 8: slot k's sequence
        self._key = struct.Struct(fmt)
        self._key_off = key_off
        self._dtype = dtype
        self._words = stride // 8
        self._out = memoryview(bytearray(rs))
        # The compiled get/put (shm._fastpath) when built, else the Python closures below;
        # writers post through `native` inside their compiled write_bytes.
        self.native = native_board(region, self._out, int(slots), self._words, int(rs),
                                   key_off, self._key.size)
        self.get: Callable[[int], memoryview | None] = (
            self._make_get() if self.native is None else self.native.get)
        self.put: Callable[[bytes | bytearray | memoryview], None] = (
            self._make_put() if self.native is None else self.native.put)

    @classmethod
    def of(cls, buf: memoryview, total_bytes: int, data_offset: int, capacity: int,
           dtype: np.dtype) -> Board | None:
        """The board after the body of a ring segment mapped in `buf`, if it has one."""
        start = board_offset(data_offset, capacity, dtype.itemsize)
        if start + HEADER_BYTES > total_bytes or not struct.unpack_from("<q", buf, start)[0]:
            return None
        return cls(buf[start:total_bytes], dtype)

    def _make_get(self) -> Callable[[int], memoryview | None]:
        seq, region, out, slots, rs = self._seq, self._region, self._out, self.slots, \
            self.record_size
        words, first = self._words, HEADER_BYTES // 8

        def get(key: int) -> memoryview | None:
            """A copy of symbol `key`'s latest record (valid until the next get), or None when
            it has none (never written, out of range, or being rewritten on every try)."""
            if not 0 <= key < slots:
                return None
            i = first + key * words
            off = i * 8 + 8
            for _ in range(READ_TRIES):
                s = seq[i]
                if s & 1:
                    continue
                if s == 0:
                    return None
                out[:] = region[off : off + rs]
                if seq[i] == s:
                    return out
            return None

        return get

    def _make_put(self) -> Callable[[bytes | bytearray | memoryview], None]:
        seq, region, slots, rs = self._seq, self._region, self.slots, self.record_size
        words, first = self._words, HEADER_BYTES // 8
        key_of, key_off = self._key.unpack_from, self._key_off

        def put(record: bytes | bytearray | memoryview) -> None:
            """Make `record` its symbol's latest (a symbol id past the board is not kept)."""
            key = key_of(record, key_off)[0]
            if key >= slots:
                return
            i = first + key * words
            s = seq[i] | 1  # odd: being written (already odd after a writer died mid-copy)
            seq[i] = s
            off = i * 8 + 8
            region[off : off + rs] = record
            seq[i] = s + 1

        return put

    def put_many(self, raw: np.ndarray) -> None:
        """Each symbol's last record of `raw` (records as one flat uint8 array, in order)."""
        rs = self.record_size
        n = raw.size // rs
        put = self.put
        if n <= 16:
            data = raw.data
            for k in range(n):
                put(data[k * rs : (k + 1) * rs])
            return
        rows = raw.reshape(n, rs)
        keys = raw.view(self._dtype)[KEY_FIELD]
        _, last_from_end = np.unique(keys[::-1], return_index=True)
        for k in np.sort(n - 1 - last_from_end).tolist():
            put(rows[k].data)

    def release(self) -> None:
        self.native = None
        self.get = self.put = _released
        self._out.release()
        self._seq.release()
        self._region.release()


def _released(*_: object) -> None:
    raise ValueError("the latest-value board was released (its ring was closed)")
