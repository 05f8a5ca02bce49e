"""The strategy's own position from its fills: filled (kept in the state dir) plus what its
orders in flight may still add, never what it merely sent.

An order sent counts in the position the signal sizes on until its outcome is known: its
fills move it to filled, its completion (cancelled rest, expiry, venue reject) takes the
rest out, and an order with no report by its time to live (risk rejected it, or its report
went with a restart) is taken out then: it can no longer trade.
"""

from __future__ import annotations

import numpy as np

from engines.journal import KIND_FILL, filled_by_symbol, has_journal, journal_records
from engines.records import Fields
from engines.statedir import StateDir
from shm.layout import (
    FILL,
    FILL_CANCELLED,
    FILL_EXPIRED,
    FILL_FILLED,
    FILL_PARTIAL,
    FILL_REJECTED,
    ORDER,
)

FILL_OWN = Fields(FILL, ("order_id", "strategy_id", "symbol_id", "side", "status", "qty"))
SENT = Fields(ORDER, ("order_id", "symbol_id", "side", "ttl_ms", "qty", "ts_ns"))
COMPLETES = frozenset({FILL_FILLED, FILL_CANCELLED, FILL_EXPIRED, FILL_REJECTED})
FILLED = frozenset({FILL_PARTIAL, FILL_FILLED})
# After its time to live an order cannot trade; its last report may still be on its way.
LATE_NS = 200_000_000


def own_layout(n_symbols: int) -> dict[str, tuple[str, int]]:
    """The strategy's position file: filled quantity per symbol, and the next fill to book
    (a ring position, so a fill re-read after a crash is booked once)."""
    return {"filled": ("<i8", n_symbols), "fills_pos": ("<i8", 1)}


class OwnPosition:
    """`position` (the signal's array, written in place) = filled + open quantity in flight."""

    def __init__(self, strategy_id: int, position: np.ndarray, arrays: dict[str, np.ndarray],
                 default_ttl_ns: int) -> None:
        self.strategy_id, self.position = strategy_id, position
        self.filled, self.fills_pos = arrays["filled"], arrays["fills_pos"]
        self.pos_v, self.filled_v = position.data, self.filled.data
        self.default_ttl_ns = default_ttl_ns
        self.open: dict[int, list[int]] = {}  # order id -> [symbol, signed open qty, until]
        self.position[:] = self.filled  # nothing is known to be in flight at a start

    def sent(self, order: bytes | bytearray | memoryview) -> None:
        """One ORDER published (its quantity is already in `position`: the signal put it)."""
        oid, sym, side, ttl_ms, qty, ts = SENT.struct.unpack_from(order)
        self.open[oid] = [sym, side * qty,
                          ts + (ttl_ms * 1_000_000 if ttl_ms else self.default_ttl_ns)]

    def sent_batch(self, orders: np.ndarray) -> None:
        """ORDER records published, in one unpack pass (no view per record)."""
        open_, default_ttl_ns = self.open, self.default_ttl_ns
        for oid, sym, side, ttl_ms, qty, ts in SENT.struct.iter_unpack(
                np.ascontiguousarray(orders).view(np.uint8).data):
            open_[oid] = [sym, side * qty, ts + (ttl_ms * 1_000_000 if ttl_ms else default_ttl_ns)]

    def on_fill(self, oid: int, strategy_id: int, sym: int, side: int, status: int,
                qty: int) -> None:
        """One fill record (any strategy's: the ring is shared; others' are skipped)."""
        if strategy_id != self.strategy_id or sym >= len(self.filled_v):
            return
        done = self.open.get(oid)
        moved = side * qty if status in FILLED else 0
        self.filled_v[sym] += moved
        if done is None:  # sent before a restart, or taken out by time: filled is the truth
            self.pos_v[sym] += moved
            return
        done[1] -= moved
        if status in COMPLETES:
            self.pos_v[sym] -= done[1]  # the rest will never trade
            del self.open[oid]

    def expire(self, now_ns: int) -> None:
        """Take out the orders past their time to live with no completion yet."""
        late = [oid for oid, (_s, _q, until) in self.open.items() if until < now_ns - LATE_NS]
        for oid in late:
            sym, rest, _until = self.open.pop(oid)
            self.pos_v[sym] -= rest

    def book(self, fills: np.ndarray, start: int) -> None:
        """Book a FILL batch read at ring position `start`, skipping what was booked."""
        skip = max(int(self.fills_pos[0]) - start, 0)
        on_fill, pos = self.on_fill, self.fills_pos
        for k, row in enumerate(FILL_OWN.struct.iter_unpack(
                np.ascontiguousarray(fills[skip:]).view(np.uint8).data), start + skip + 1):
            on_fill(*row)
            pos[0] = k


def filled_from_journal(state: StateDir, strategy_id: int, n_symbols: int) -> np.ndarray | None:
    """This strategy's filled position per symbol as a replay of the journal's fills, or None
    when the state dir has no journal."""
    if not has_journal(state):
        return None
    fills = journal_records(state)[KIND_FILL]
    return filled_by_symbol(fills[np.isin(fills["status"], list(FILLED))], n_symbols,
                            strategy_id)
