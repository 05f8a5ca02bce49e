"""Operators at a venue engine: `orders`, `cancel order_id=N` and `replace order_id=N qty=Q
price=P` as service methods, shared by the simulated-venue execution engine and the FIX
gateway (`nautilusctl orders`, `nautilusctl call execution cancel order_id=N`).

A cancel or replace is never applied by the service: it is written as an AMEND request on
the amends ring the venue engine writes, risk decides it (a cancel always passes, a replace
is checked again) and it comes back on the amend-decisions ring like a strategy's.

Amend ids. An amend id is `strategy_id << COUNTER_BITS | counter` like an order id, and the
venue applies each once: a high-water mark of counters per strategy. The counter's top bit
(OPERATOR_BIT, 1 << 39) splits it into two ranges that never meet: a strategy's own amends
count from 1 below it (2**39 - 1 of them), an operator's carry it. Each range has its own
marks (engines.execution._amends), so an operator's amend never raises a strategy's mark
(which would drop that strategy's later amends as seen before) and a strategy's never
drops an operator's. Operator counters are `max(last + 1, now in ms)`: increasing across
restarts of the engine (the last one is read back from the amends ring, the clock covers a
new ring set), 2**39 ms (17 years) before the range is used up.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from engines.errors import ServiceError
from engines.execution._lifecycle import (
    ORDER_TRANSITIONS,
    TERMINAL,
    OrderEvent,
    OrderState,
)
from engines.records import COUNTER_BITS
from shm.layout import (
    AMEND,
    AMEND_CANCEL,
    AMEND_REPLACE,
    FILL_ACCEPTED,
    FILL_CANCELLED,
    FILL_EXPIRED,
    FILL_FILLED,
    FILL_PARTIAL,
    FILL_REJECTED,
    FILL_REPLACED,
)

OPERATOR_BIT = 1 << (COUNTER_BITS - 1)  # set in an operator's amend counter, never a strategy's
OPERATOR_MASK = OPERATOR_BIT - 1
# A report's status as the event of the OMS state table (others leave the state as it is:
# a replace or amend refusal keeps a working order's state, a routed child's send or refusal
# is not the parent's).
STATUS_EVENTS = {FILL_ACCEPTED: OrderEvent.ACCEPT, FILL_PARTIAL: OrderEvent.PARTIAL_FILL,
                 FILL_FILLED: OrderEvent.FILL, FILL_CANCELLED: OrderEvent.CANCEL,
                 FILL_REJECTED: OrderEvent.REJECT, FILL_EXPIRED: OrderEvent.EXPIRE,
                 FILL_REPLACED: OrderEvent.REPLACE}


def is_operator(amend_id: int) -> bool:
    """Whether an amend id is in the operators' range."""
    return bool(amend_id & OPERATOR_BIT)


class OperatorIds:
    """The next operator amend id: counters only grow, whatever the strategy."""

    def __init__(self, last: int = 0, clock_ms: Any = None) -> None:
        self.last = last & OPERATOR_MASK
        self.clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)

    @classmethod
    def after(cls, amend_ids: Iterable[int], clock_ms: Any = None) -> OperatorIds:
        """Continuing after the operator ids in `amend_ids` (an amends ring's tail)."""
        return cls(max((a & OPERATOR_MASK for a in amend_ids if is_operator(a)), default=0),
                   clock_ms)

    def next(self, strategy_id: int) -> int:
        counter = max(self.last + 1, int(self.clock_ms()) & OPERATOR_MASK)
        if counter > OPERATOR_MASK:
            raise ServiceError("amend", "IDS_USED_UP", "the operators' amend id range is used up")
        self.last = counter
        return (strategy_id << COUNTER_BITS) | OPERATOR_BIT | counter


def verb_of(action: int) -> str:
    return "cancel" if action == AMEND_CANCEL else "replace"


def check_ring(ring: Any, engine: str, action: int) -> None:
    """Refuse a cancel or replace at an engine that writes no amends ring."""
    if ring is None:
        raise ServiceError(verb_of(action), "NO_AMENDS_RING", f"engine {engine} writes no "
                           "amend ring: a cancel or replace goes through risk on one (README, "
                           "Order lifecycle and venues)")


def request(ring: Any, ids: OperatorIds, action: int, order: tuple[int, int, int, int],
            qty: int = 0, price: float = 0.0) -> dict[str, Any]:
    """Write one operator cancel or replace of an open `order` (order_id, strategy_id,
    symbol_id, side) on `ring` (check_ring first); its reply."""
    verb = verb_of(action)
    order_id, strategy_id, symbol_id, side = order
    if action == AMEND_REPLACE and not (qty > 0 and price > 0):
        raise ServiceError(verb, "BAD_ARGS", f"replace of order_id={order_id}: qty={qty} and "
                           f"price={price} must both be positive")
    a = np.zeros(1, AMEND)
    a["amend_id"] = ids.next(strategy_id)
    a["order_id"], a["strategy_id"], a["symbol_id"] = order_id, strategy_id, symbol_id
    a["action"], a["side"], a["qty"], a["price"] = action, side, qty, price
    a["ts_ns"] = time.time_ns()
    ring.write(a)
    return {"amend_id": int(a["amend_id"][0]), "order_id": order_id, "action": verb}


def not_open(verb: str, order_id: int, engine: str, known: str) -> ServiceError:
    """The error for a cancel or replace of an order that is not open here."""
    return ServiceError(verb, "NOT_OPEN", f"order_id={order_id} is not an open order of "
                        f"{engine} ({known})")


def entry(order_id: int, state: str, venue: str, *, symbol: str, side: int, qty: int,
          price: float, filled: int, leaves: int, is_open: bool) -> dict[str, Any]:
    """One row of the `orders` reply (the same keys from every venue engine)."""
    return {"order_id": order_id, "strategy_id": order_id >> COUNTER_BITS, "symbol": symbol,
            "side": side, "qty": qty, "price": price, "filled": filled, "leaves": leaves,
            "state": state, "open": is_open, "venue": venue}


class ReportFold:
    """Orders as their reports on the fills ring tell them: state by the OMS state table,
    filled, open quantity, total quantity, last price and the venues of routed children."""

    __slots__ = ("filled", "leaves", "price", "qty", "sent", "side", "state", "symbol_id",
                 "venues")

    def __init__(self, symbol_id: int, side: int) -> None:
        self.state, self.filled, self.leaves, self.qty, self.price = OrderState.NEW, 0, 0, 0, 0.0
        self.symbol_id, self.side = symbol_id, side
        self.venues: list[int] = []
        self.sent = True

    def add(self, status: int, qty: int, price: float, leaves: int, venue_id: int) -> None:
        event = STATUS_EVENTS.get(status)
        nxt = ORDER_TRANSITIONS.get((self.state, event)) if event is not None else None
        if nxt is not None:  # a report the table does not take from here leaves the state
            self.state = nxt
        if qty:
            self.filled += qty
            self.price = price
        elif status in (FILL_ACCEPTED, FILL_REPLACED) and price:
            self.price = price
        if self.state not in TERMINAL:
            self.leaves = leaves
            self.qty = max(self.filled + leaves, self.filled)
        else:
            self.leaves = 0
            self.qty = max(self.qty, self.filled)
        if venue_id and venue_id not in self.venues:
            self.venues.append(venue_id)


def fold_reports(tail: np.ndarray) -> dict[int, ReportFold]:
    """Every order in a fills-ring tail (structured FILL records), in first-report order."""
    out: dict[int, ReportFold] = {}
    names = tail.dtype.names or ()
    venue_ids = tail["venue_id"].tolist() if "venue_id" in names else [0] * tail.shape[0]
    for oid, sym, side, status, qty, price, leaves, vid in zip(
            tail["order_id"].tolist(), tail["symbol_id"].tolist(), tail["side"].tolist(),
            tail["status"].tolist(), tail["qty"].tolist(), tail["price"].tolist(),
            tail["leaves_qty"].tolist(), venue_ids, strict=True):
        fold = out.get(oid)
        if fold is None:
            fold = out[oid] = ReportFold(sym, side)
        fold.add(status, qty, price, leaves, vid)
    return out
