"""Struct codecs and named field positions for the one-record hot paths, derived from the
record layouts of shm.layout (the only place a field is declared), and the order-id scheme.

numpy costs about a microsecond per call on a one-record array; a precompiled Struct unpacks
or packs a whole record in a few hundred ns. `Fields(dtype, names)` builds that Struct from
the dtype for just the named fields (the rest of the record as pad bytes), so a hot path
unpacks exactly the fields it names, in layout order, and a tuple's positions are attributes:
`ORDER_F.qty`. Every codec is checked against its dtype when it is built.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterable
from typing import Any

import numpy as np

from shm.layout import DECISION, FILL, ORDER, RECORDS, TICK

# Order ids: strategy_id << COUNTER_BITS | counter (host-unique; the counter resumes).
COUNTER_BITS = 40
COUNTER_MASK = (1 << COUNTER_BITS) - 1
_DENSE_KEYS = 16  # group_cumsum: up to this many keys, one column per key

# numpy kind + size -> struct code (standard sizes, little-endian, no alignment: '<').
_CODES = {"u1": "B", "i1": "b", "u2": "H", "i2": "h", "u4": "I", "i4": "i", "u8": "Q",
          "i8": "q", "f4": "f", "f8": "d", "b1": "?"}
_LITTLE = ("<", "|") + (("=",) if sys.byteorder == "little" else ())


class Fields:
    """Named fields of one record layout: `struct` packs and unpacks them (every other byte a
    pad byte, packed as zero), and each field's position in those tuples is an attribute.

    By default every scalar field, padding included, so a tuple is the record's
    `ndarray.tolist()` row (subarray padding is pad bytes). Named fields must be given in
    layout order. The struct covers the whole record, or from byte `start` on (a DECISION's
    part after its ORDER: pack and unpack it at offset `start`).
    """

    __slots__ = ("_positions", "dtype", "names", "start", "struct")

    _positions: dict[str, int]
    dtype: np.dtype[Any]
    names: tuple[str, ...]
    start: int
    struct: struct.Struct

    def __init__(self, dtype: np.dtype[Any], names: Iterable[str] | None = None, *,
                 start: int = 0) -> None:
        fields = _layout(dtype)
        chosen = tuple(n for n, _, fd in fields if fd.subdtype is None) if names is None \
            else tuple(names)
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "names", chosen)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "struct",
                           struct.Struct(_format(dtype, fields, chosen, start)))
        object.__setattr__(self, "_positions", {n: i for i, n in enumerate(chosen)})
        _probe(self)

    def __getattr__(self, name: str) -> int:
        """The position of field `name` in this struct's tuples."""
        if name.startswith("_"):  # padding and internals are not looked up by name
            raise AttributeError(name)
        try:
            return self._positions[name]
        except KeyError:
            raise AttributeError(f"{self!r} has no field {name!r}") from None

    def __getitem__(self, name: str) -> int:
        """The position of field `name` (for names held in variables)."""
        return self.__getattr__(name)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{self!r} is read-only")

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return f"Fields({record_name(self.dtype)}: {', '.join(self.names)})"


def record_name(dtype: np.dtype[Any]) -> str:
    """The name shm.layout registers `dtype` under, or its description."""
    return next((k for k, v in RECORDS.items() if v == dtype), str(dtype))


def _layout(dtype: np.dtype[Any]) -> list[tuple[str, int, np.dtype[Any]]]:
    """(name, offset, field dtype) of every field, in offset order."""
    if dtype.fields is None:
        raise ValueError(f"{dtype} is not a structured record layout")
    fields = [(name, int(f[1]), f[0]) for name, f in dtype.fields.items()]
    return sorted(fields, key=lambda f: f[1])


def _code(record: str, name: str, fd: np.dtype[Any]) -> str:
    code = _CODES.get(f"{fd.kind}{fd.itemsize}") if fd.subdtype is None else None
    if code is None or fd.byteorder not in _LITTLE:
        raise ValueError(f"{record}.{name}: no little-endian struct code for {fd.str!r}")
    return code


def _format(dtype: np.dtype[Any], fields: list[tuple[str, int, np.dtype[Any]]],
            names: tuple[str, ...], start: int) -> str:
    """The struct format of `names` over bytes [start, itemsize) of `dtype`."""
    record = record_name(dtype)
    offsets = {n: off for n, off, _ in fields}
    unknown = [n for n in names if n not in offsets]
    if unknown:
        raise ValueError(f"{record} has no field {unknown}; fields: {[f[0] for f in fields]}")
    if len(set(names)) != len(names) or [offsets[n] for n in names] != sorted(
            offsets[n] for n in names):
        raise ValueError(f"{record}: fields {names} are not distinct and in layout order")
    early = [n for n in names if offsets[n] < start]
    if early:
        raise ValueError(f"{record}: fields {early} lie before byte {start}")
    chosen, out, pos = set(names), ["<"], start
    for name, off, fd in fields:
        if name in chosen:
            if off > pos:
                out.append(f"{off - pos}x")
            out.append(_code(record, name, fd))
            pos = off + fd.itemsize
    if dtype.itemsize > pos:
        out.append(f"{dtype.itemsize - pos}x")
    return "".join(out)


def _probe(f: Fields) -> None:
    """The struct reads and writes each named field where numpy does, zero elsewhere."""
    probe = np.zeros(1, f.dtype)
    for i, name in enumerate(f.names):
        probe[name] = i + 1
    raw = probe.tobytes()[f.start:]
    values = tuple(range(1, len(f.names) + 1))
    if f.struct.unpack(raw) != values or f.struct.pack(*values) != raw:  # pragma: no cover
        raise AssertionError(f"{f!r}: struct {f.struct.format!r} disagrees with {f.dtype}")


# Whole records, padding kept as values: tuples are ndarray.tolist() rows (a DECISION's
# trailing _pad4 subarray excepted: its 16 bytes are pad bytes).
TICK_F = Fields(TICK)
ORDER_F = Fields(ORDER)
DECISION_F = Fields(DECISION)
FILL_F = Fields(FILL)
TICK_S, ORDER_S, DECISION_S, FILL_S = TICK_F.struct, ORDER_F.struct, DECISION_F.struct, \
    FILL_F.struct
# A tick's touch, as a board look-up gives the whole tick: unpack(quote) -> these four.
TOUCH_F = Fields(TICK, ("bid", "ask", "bid_size", "ask_size"))
BID_ASK_F = Fields(TICK, ("bid", "ask"))
# What risk adds to an ORDER's bytes to make its DECISION, packed at ORDER.itemsize.
DECISION_SUFFIX_F = Fields(DECISION, ("verdict", "reason", "decided_ts_ns"),
                           start=ORDER.itemsize)

if DECISION.descr[: len(ORDER.descr)] != ORDER.descr:  # pragma: no cover - a layout change
    raise AssertionError("a DECISION no longer starts with its ORDER, field for field")


def group_cumsum(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running sum of `values` within each key, in the original order (stable)."""
    if keys.size and int(keys.max()) < _DENSE_KEYS:
        # Few keys (symbols): one column per key, one cumsum; cheaper than a sort.
        n = keys.size
        cols = np.zeros((n, int(keys.max()) + 1), dtype=values.dtype)
        rows = np.arange(n)
        cols[rows, keys] = values
        return np.cumsum(cols, axis=0)[rows, keys]  # type: ignore[no-any-return]
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
