"""The one-record hot paths of rings: `write_bytes`, `read_one` and `available`.

Two implementations of one protocol. The compiled one (shm/_native.c, built when the package
is installed) is used when it imports; the Python closures below are the reference and the
fallback (`NAUTILUSD_PURE_PYTHON=1` in the environment forces them; `NATIVE` says which is in
use, and `nautilusd check` prints it). Tests run the ring suites against both.

The Python closures bind everything a call needs once: closure cells and list items cost a
fraction of attribute and memoryview lookups. `views` is the per-record view table of
_control.record_views, or None for a ring too large for one: those closures slice `body`
inline (a slice costs less than any method call). Each factory returns one of two
near-identical closures rather than one with a branch on `views`: the test would run on every
record of the hottest path. Keep the pairs in step.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

RecordBytes = bytes | bytearray | memoryview
ReadOne = Callable[[], memoryview | None]
Available = Callable[[], int]
WriteBytes = Callable[[RecordBytes], bool]
READ_TRIES = 16  # overwrite read_one: copies retried after a lap before it returns None


def load_compiled(module: str) -> ModuleType | None:
    """A compiled extension of this project, or None when it is not built or
    NAUTILUSD_PURE_PYTHON is set (the one switch for every compiled path)."""
    if os.environ.get("NAUTILUSD_PURE_PYTHON"):
        return None
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _load_native() -> ModuleType | None:
    return load_compiled("shm._native")


_native = _load_native()
NATIVE = _native is not None


def ring_paths() -> str:
    """Which one-record paths rings attached from now on run: "compiled" or "python"."""
    return "python" if _native is None else "compiled"


def use_native(flag: bool) -> bool:
    """Choose the implementation for rings attached from now on (tests compare the two);
    returns whether the compiled one is in use (False when it is not built)."""
    global _native, NATIVE
    _native = _load_native() if flag else None
    NATIVE = _native is not None
    return NATIVE


def full_fence() -> Callable[[], None] | None:
    """The compiled full memory fence, or None on the Python paths (which cannot emit one)."""
    return None if _native is None else _native.fence


def compare_and_swap() -> Callable[[memoryview, int, int, int], bool] | None:
    """The compiled int64 compare-and-swap (`cas(view, word, expected, desired) -> bool`), or
    None on the Python paths (their slot claims stay check-then-set: a race of two joiners of
    one slot in the same microseconds is not closed there)."""
    return None if _native is None else _native.cas


def native_board(region: memoryview, out: memoryview, slots: int, words: int, record_size: int,
                 key_off: int, key_size: int) -> Any:
    """The compiled get/put of a latest-value board, or None when the Python ones run."""
    if _native is None:
        return None
    return _native.board(region, out, slots, words, record_size, key_off, key_size)


def writer_path(block: bool, w: memoryview, st: list[int], body: memoryview, rs: int,
                views: list[memoryview] | None, mask: int, cap: int, gate: int,
                refresh: Callable[[], int], wake: Callable[[], None], multi: bool,
                board: Any = None) -> WriteBytes:
    """A writer's `write_bytes`; `board` (a shm.latest.Board or None) gets every record."""
    if _native is not None:
        nb = None if board is None else board.native
        if board is None or nb is not None:
            if block:
                return _native.block_write_bytes(  # type: ignore[no-any-return]
                    w, st, body, rs, views, mask, cap, gate, refresh, wake, multi, nb)
            return _native.overwrite_write_bytes(  # type: ignore[no-any-return]
                w, st, body, rs, views, mask, wake, multi, nb)
    write = (block_write_bytes(w, st, body, rs, views, mask, cap, gate, refresh, wake, multi)
             if block else overwrite_write_bytes(w, st, body, rs, views, mask, wake, multi))
    return write if board is None else _with_board(write, board.put)


def reader_paths(block: bool, w: memoryview, r: memoryview, st: list[int], body: memoryview,
                 rs: int, views: list[memoryview] | None, mask: int, cap: int, one: memoryview,
                 resync: Callable[[int], int]) -> tuple[ReadOne, Available]:
    """A reader's `read_one` and `available`."""
    if _native is not None:
        if block:
            return _native.block_reader(w, r, st, body, rs, views, mask)  # type: ignore[no-any-return]
        return _native.overwrite_reader(  # type: ignore[no-any-return]
            w, r, st, body, rs, views, mask, cap, one, resync)
    if block:
        return block_read_one(w, r, st, body, rs, views, mask), block_available(w, st)
    return (overwrite_read_one(w, r, st, body, rs, views, mask, cap, one, resync),
            overwrite_available(w, st, cap))


def _with_board(write_bytes: WriteBytes, put: Callable[[RecordBytes], None]) -> WriteBytes:
    """write_bytes that also makes each record written its symbol's latest."""

    def write_bytes_and_post(b: RecordBytes) -> bool:
        if write_bytes(b):
            put(b)
            return True
        return False

    return write_bytes_and_post


def block_write_bytes(
    w: memoryview, st: list[int], body: memoryview, rs: int, views: list[memoryview] | None,
    mask: int, cap: int, gate: int, refresh: Callable[[], int], wake: Callable[[], None],
    multi: bool,
) -> Callable[[RecordBytes], bool]:
    """Write one record unless the slowest active reader is a full ring behind."""
    limit = gate + cap

    if views is not None:
        def write_bytes(b: RecordBytes) -> bool:
            nonlocal limit
            if len(b) != rs:  # first, as on the compiled path: a full ring does not hide it
                raise ValueError(f"a record of this ring is {rs} bytes, got {len(b)}")
            pos = st[0]
            if pos >= limit:
                limit = refresh() + cap
                if pos >= limit:
                    return False
            views[pos & mask][:] = b
            pos += 1
            st[0] = pos
            w[0] = pos  # W_PUBLISHED: the publishing store
            if w[8] or multi:  # W_PARKED0: somebody sleeps on a doorbell
                wake()
            return True

        return write_bytes

    def write_bytes_sliced(b: RecordBytes) -> bool:
        nonlocal limit
        if len(b) != rs:  # first, as on the compiled path: a full ring does not hide it
            raise ValueError(f"a record of this ring is {rs} bytes, got {len(b)}")
        pos = st[0]
        if pos >= limit:
            limit = refresh() + cap
            if pos >= limit:
                return False
        off = (pos & mask) * rs
        body[off : off + rs] = b
        pos += 1
        st[0] = pos
        w[0] = pos  # W_PUBLISHED: the publishing store
        if w[8] or multi:  # W_PARKED0: somebody sleeps on a doorbell
            wake()
        return True

    return write_bytes_sliced


def overwrite_write_bytes(
    w: memoryview, st: list[int], body: memoryview, rs: int, views: list[memoryview] | None,
    mask: int, wake: Callable[[], None], multi: bool,
) -> Callable[[RecordBytes], bool]:
    """Write one record, announcing the claim first so lapped readers can tell."""

    if views is not None:
        def write_bytes(b: RecordBytes) -> bool:
            if len(b) != rs:  # before the claim: a rejected record costs no reader a record
                raise ValueError(f"a record of this ring is {rs} bytes, got {len(b)}")
            pos = st[0]
            if w[1] <= pos:  # W_CLAIM first: a reader copying this slot's old record drops it
                w[1] = pos + 1
            views[pos & mask][:] = b
            pos += 1
            st[0] = pos
            w[0] = pos  # W_PUBLISHED
            if w[8] or multi:
                wake()
            return True

        return write_bytes

    def write_bytes_sliced(b: RecordBytes) -> bool:
        if len(b) != rs:  # before the claim: a rejected record costs no reader a record
            raise ValueError(f"a record of this ring is {rs} bytes, got {len(b)}")
        pos = st[0]
        if w[1] <= pos:  # W_CLAIM first: a reader copying this slot's old record drops it
            w[1] = pos + 1
        off = (pos & mask) * rs
        body[off : off + rs] = b
        pos += 1
        st[0] = pos
        w[0] = pos  # W_PUBLISHED
        if w[8] or multi:
            wake()
        return True

    return write_bytes_sliced


def block_read_one(
    w: memoryview, r: memoryview, st: list[int], body: memoryview, rs: int,
    views: list[memoryview] | None, mask: int,
) -> Callable[[], memoryview | None]:
    """Lend the next record (zero-copy) and release the one lent by the previous call."""
    end = 0

    if views is not None:
        def read_one() -> memoryview | None:
            nonlocal end
            pos = st[0]
            r[0] = pos  # R_CURSOR: release the record lent by the previous call
            if pos >= end:
                end = w[0]  # W_PUBLISHED, re-read only when the cached value is used up
                if pos >= end:
                    return None
            st[0] = pos + 1
            return views[pos & mask]  # zero-copy: the writer cannot reuse it until released

        return read_one

    def read_one_sliced() -> memoryview | None:
        nonlocal end
        pos = st[0]
        r[0] = pos  # R_CURSOR: release the record lent by the previous call
        if pos >= end:
            end = w[0]  # W_PUBLISHED, re-read only when the cached value is used up
            if pos >= end:
                return None
        st[0] = pos + 1
        off = (pos & mask) * rs
        return body[off : off + rs]  # zero-copy: the writer cannot reuse it until released

    return read_one_sliced


def overwrite_read_one(
    w: memoryview, r: memoryview, st: list[int], body: memoryview, rs: int,
    views: list[memoryview] | None, mask: int, cap: int, one: memoryview,
    resync: Callable[[int], int],
) -> Callable[[], memoryview | None]:
    """Copy the next record and keep it only if the writer did not lap it during the copy."""

    if views is not None:
        def read_one() -> memoryview | None:
            tries = READ_TRIES  # bounded: a hostile claim cursor cannot hold it (a counter,
            while True:         # not range(): no allocation per record)
                pos = st[0]
                end = w[0]  # W_PUBLISHED
                if pos >= end:
                    return None
                one[:] = views[pos & mask]
                if w[1] - cap <= pos:  # W_CLAIM: the slot was not rewritten during the copy
                    st[0] = r[0] = pos + 1
                    return one
                resync(end)
                tries -= 1
                if not tries:
                    return None

        return read_one

    def read_one_sliced() -> memoryview | None:
        tries = READ_TRIES  # bounded, as read_one above
        while True:
            pos = st[0]
            end = w[0]  # W_PUBLISHED
            if pos >= end:
                return None
            off = (pos & mask) * rs
            one[:] = body[off : off + rs]
            if w[1] - cap <= pos:  # W_CLAIM: the slot was not rewritten during the copy
                st[0] = r[0] = pos + 1
                return one
            resync(end)
            tries -= 1
            if not tries:
                return None

    return read_one_sliced


def block_available(w: memoryview, st: list[int]) -> Callable[[], int]:
    """`available() -> int`: records published and not yet consumed by this reader."""

    def available() -> int:
        return w[0] - st[0]  # W_PUBLISHED (an int64 view: items are ints already)

    return available


def overwrite_available(w: memoryview, st: list[int], cap: int) -> Callable[[], int]:
    """`available() -> int`: as block_available, but never more than the ring holds (a
    lapped reader's next read resyncs to the oldest record still there)."""

    def available() -> int:
        n = w[0] - st[0]  # W_PUBLISHED
        return n if n < cap else cap

    return available
