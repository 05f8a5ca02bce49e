"""Risk's open orders: what each approved order still holds reserved, released by its fills.

Every approved order's reservation (RiskState's open buys or sells) stays until the fills
ring says the order is over: a fill moves its quantity from reserved to filled, a completion
(filled, cancelled IOC rest, expired, rejected) gives back what was left. The table lives in
risk's state file; an order it cannot follow (the table was full) stays reserved: safe.
"""

from __future__ import annotations

import numpy as np

from engines.records import Fields
from engines.risk._checks import RiskState
from shm.layout import (
    DECISION,
    FILL,
    FILL_CANCELLED,
    FILL_EXPIRED,
    FILL_FILLED,
    FILL_PARTIAL,
    FILL_REJECTED,
    FILL_REPLACED,
    TIF_FOK,
    TIF_IOC,
)

# What a fill tells risk, and what an approved decision leaves open.
FILL_BOOKED = Fields(FILL, ("order_id", "symbol_id", "side", "status", "qty", "leaves_qty"))
APPROVED = Fields(DECISION, ("order_id", "symbol_id", "side", "tif", "ttl_ms", "qty", "ts_ns"))
COMPLETES = frozenset({FILL_FILLED, FILL_CANCELLED, FILL_EXPIRED, FILL_REJECTED})
FILLED = frozenset({FILL_PARTIAL, FILL_FILLED})
# An IOC/FOK order never trades past its time to live (execution refuses it then): once
# this long after it, its reservation is given back even when its completion never came
# (the order was lost with a venue restart). Leaves room for a fill still being published.
EXPIRY_GRACE_NS = 2_000_000_000


def open_layout(capacity: int) -> dict[str, tuple[str, int]]:
    """The open-order table's arrays, for risk's StateFile (one slot per open order)."""
    return {"open_id": ("<i8", capacity), "open_qty": ("<i8", capacity),
            "open_sym": ("<i8", capacity), "open_side": ("<i8", capacity),
            "open_until_ns": ("<i8", capacity)}


class OpenOrders:
    """Approved orders not yet completed, by order id (slots in persistent arrays)."""

    def __init__(self, state: RiskState, arrays: dict[str, np.ndarray]) -> None:
        self.state = state
        self.ids, self.qty = arrays["open_id"], arrays["open_qty"]
        self.sym, self.side, self.until = (arrays["open_sym"], arrays["open_side"],
                                           arrays["open_until_ns"])
        self.slots: dict[int, int] = {int(self.ids[i]): i
                                      for i in np.flatnonzero(self.qty > 0).tolist()}
        self.free = [i for i in range(self.qty.shape[0] - 1, -1, -1) if self.qty[i] <= 0]
        self.untracked = 0  # approved while the table was full: reserved until a new ring set
        self.unknown_fills = 0  # fills of orders not in the table (released before, untracked)

    def __len__(self) -> int:
        return len(self.slots)

    def approve(self, order_id: int, sym: int, side: int, tif: int, qty: int,
                until_ns: int) -> None:
        """An order the checks approved (its reservation already made): follow it. An id
        decided again (a crash between publishing and marking) is not followed twice."""
        if order_id in self.slots or qty <= 0:
            return
        if not self.free:
            self.untracked += 1
            return
        i = self.free.pop()
        self.ids[i], self.sym[i], self.side[i] = order_id, sym, side
        self.until[i] = until_ns if tif in (TIF_IOC, TIF_FOK) else 0
        self.qty[i] = qty  # last: a slot is open once its quantity is stored
        self.slots[order_id] = i

    def approve_record(self, decision: bytes | bytearray | memoryview,
                       default_ttl_ns: int) -> None:
        """approve() for one approved DECISION's bytes."""
        oid, sym, side, tif, ttl_ms, qty, ts = APPROVED.struct.unpack_from(decision)
        self.approve(oid, sym, side, tif, qty,
                     ts + (ttl_ms * 1_000_000 if ttl_ms else default_ttl_ns))

    def approve_batch(self, decisions: np.ndarray, approved: np.ndarray,
                      default_ttl_ns: int) -> None:
        """approve() for the approved rows (a boolean mask) of a DECISION batch: one copy of
        those rows and one unpack pass, no per-row array."""
        rows = np.ascontiguousarray(decisions[approved])
        approve = self.approve
        for oid, sym, side, tif, ttl_ms, qty, ts in APPROVED.struct.iter_unpack(
                rows.view(np.uint8).data):
            approve(oid, sym, side, tif, qty,
                    ts + (ttl_ms * 1_000_000 if ttl_ms else default_ttl_ns))

    def on_fill(self, order_id: int, sym: int, side: int, status: int, qty: int,
                leaves: int = 0) -> None:
        """One fill record: its quantity is booked as filled and leaves the reservation; a
        completion gives back whatever the order still held; a replace holds its new open
        quantity (`leaves`) instead."""
        i = self.slots.get(order_id)
        if status == FILL_REPLACED:
            if i is not None:
                held = int(self.qty[i])
                self.state.book_fill(int(self.sym[i]), int(self.side[i]), 0, held - leaves,
                                     order_id)
                self.qty[i] = leaves
            return
        filled = qty if status in FILLED else 0
        if i is None:  # released already (expired by time) or never followed
            if filled:
                self.unknown_fills += 1
                self.state.book_fill(sym, side, filled, 0, order_id)
            return
        held = int(self.qty[i])
        released = held if status in COMPLETES else min(filled, held)
        self.state.book_fill(int(self.sym[i]), int(self.side[i]), filled, released, order_id)
        if released >= held:
            self._close(order_id, i)
        else:
            self.qty[i] = held - released

    def on_fills(self, fills: np.ndarray) -> None:
        """on_fill for every record of a FILL batch, in order."""
        on_fill = self.on_fill
        for oid, sym, side, status, qty, leaves in FILL_BOOKED.struct.iter_unpack(
                np.ascontiguousarray(fills).view(np.uint8).data):
            on_fill(oid, sym, side, status, qty, leaves)

    def expire(self, now_ns: int) -> int:
        """Give back the reservations of IOC/FOK orders past their time to live (plus a
        grace): they can no longer trade. Returns how many were released."""
        late = [(oid, i) for oid, i in self.slots.items()
                if 0 < self.until[i] < now_ns - EXPIRY_GRACE_NS]
        for oid, i in late:
            self.state.book_fill(int(self.sym[i]), int(self.side[i]), 0, int(self.qty[i]), oid)
            self._close(oid, i)
        return len(late)

    def clear(self) -> None:
        """Nothing is open any more (a new ring set): forget every order and reservation."""
        self.qty[:] = 0
        self.slots.clear()
        self.free = list(range(self.qty.shape[0] - 1, -1, -1))
        self.state.clear_open()

    def _close(self, order_id: int, i: int) -> None:
        self.qty[i] = 0
        del self.slots[order_id]
        self.free.append(i)
