"""The record layouts as `struct` formats, and a writer's room count, for one-record hot paths.

numpy costs about a microsecond per call on a one-record array; a precompiled Struct unpacks
or packs a whole record in a few hundred ns. Each format is checked against its dtype at import.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from shm.layout import DECISION, FILL, ORDER, TICK

# Order ids: strategy_id << COUNTER_BITS | counter (host-unique; the counter resumes).
COUNTER_BITS = 40
COUNTER_MASK = (1 << COUNTER_BITS) - 1
_DENSE_KEYS = 16  # group_cumsum: up to this many keys, one column per key

# Field for field as in shm.layout; padding fields are kept (zero) so tuples match tolist().
TICK_S = struct.Struct("<QqIIddqqQ")
ORDER_S = struct.Struct("<QIIbBBBIqdqQq")
# A DECISION is its ORDER's 64 bytes followed by this suffix (_pad4 as 16 pad bytes).
DECISION_SUFFIX_S = struct.Struct("<BBHIq16x")
DECISION_S = struct.Struct("<QIIbBBBIqdqQqBBHIq16x")
FILL_S = struct.Struct("<QQIIbBBBIqdqqQqqq")
# A tick's touch (bid, ask, bid_size, ask_size) from its bytes, as a board look-up gives them.
TOUCH_S = struct.Struct("<ddqq")
BID_ASK_S = struct.Struct("<dd")  # its first two fields
TOUCH_OFFSET = TICK.fields["bid"][1]  # type: ignore[index]


def _check(s: struct.Struct, dtype: np.dtype[Any]) -> None:
    if s.size != dtype.itemsize:  # pragma: no cover - a layout change, caught at import
        raise AssertionError(f"struct {s.format!r} is {s.size} bytes, dtype {dtype.itemsize}")
    probe = np.zeros(1, dtype)
    names = [n for n in dtype.names or () if dtype.fields[n][0].kind != "V"]  # type: ignore[index]
    for i, name in enumerate(names):
        probe[name] = i + 1
    values = s.unpack(probe.tobytes())
    if list(values[: len(names)]) != list(range(1, len(names) + 1)):  # pragma: no cover
        raise AssertionError(f"struct {s.format!r} does not match {dtype}")


for _s, _d in ((TICK_S, TICK), (ORDER_S, ORDER), (DECISION_S, DECISION), (FILL_S, FILL)):
    _check(_s, _d)
if [TICK.fields[f][1] for f in ("bid", "ask", "bid_size", "ask_size")] != [  # type: ignore[index]
        TOUCH_OFFSET + 8 * k for k in range(4)]:  # pragma: no cover
    raise AssertionError("a tick's touch fields are no longer contiguous")
if ORDER.itemsize + DECISION_SUFFIX_S.size != DECISION.itemsize:  # pragma: no cover
    raise AssertionError("a DECISION is no longer an ORDER plus the decision suffix")


class Room:
    """Whether `writer` can take n more records now without waiting, re-reading the readers'
    cursors only when needed.

    Only this process writes the ring and readers only ever free slots, so the position up to
    which it could write when last asked (cursor + free) stays valid whatever path wrote since.
    """

    __slots__ = ("limit", "writer")

    def __init__(self, writer: Any) -> None:
        self.writer = writer
        self.limit = 0

    def fits(self, n: int) -> bool:
        """True if `n` records can be written now (one-record writes will not fail)."""
        cursor = self.writer.cursor
        if cursor + n <= self.limit:
            return True
        self.limit = cursor + self.writer.free()
        return cursor + n <= self.limit


def group_cumsum(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running sum of `values` within each key, in the original order (stable)."""
    if keys.size and int(keys.max()) < _DENSE_KEYS:
        # Few keys (symbols): one column per key, one cumsum; cheaper than a sort.
        n = keys.size
        cols = np.zeros((n, int(keys.max()) + 1), dtype=values.dtype)
        rows = np.arange(n)
        cols[rows, keys] = values
        return np.cumsum(cols, axis=0)[rows, keys]
    order = np.argsort(keys, kind="stable")
    sorted_vals = values[order]
    sorted_keys = keys[order]
    cs = np.cumsum(sorted_vals)
    is_start = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
    run_first = np.maximum.accumulate(np.where(is_start, np.arange(cs.size), 0))
    run_base = cs[run_first] - sorted_vals[run_first]
    out = np.empty_like(cs)
    out[order] = cs - run_base
    return out
