"""Cancels and replaces at the simulated venue: an approved AMEND applied to the order it
names, once per amend id, each answered by one report on the fills (order-events) ring.

A cancel ends the order (FILL_CANCELLED, leaves 0); a replace sets its new total quantity and
limit price (FILL_REPLACED, price and leaves the new ones) after the same admission rules as a
new order. An amend of an order not open, refused by risk, or that breaks a rule is answered
FILL_AMEND_REJECTED with its reason, and the order is left as it was.

Once per amend id: a strategy's amend counters and an operator's (engines.execution._operator,
OPERATOR_BIT set) are two ranges with a high-water mark each per strategy, so neither ever
drops the other's as seen before.
"""

from __future__ import annotations

from collections.abc import MutableSequence
from typing import TYPE_CHECKING, Any

from engines.execution._lifecycle import OrderEvent
from engines.execution._operator import OPERATOR_BIT, OPERATOR_MASK
from engines.records import COUNTER_MASK, Fields
from shm.layout import (
    AMEND,
    AMEND_CANCEL,
    AMEND_REPLACE,
    FILL_AMEND_REJECTED,
    FILL_CANCELLED,
    FILL_REPLACED,
    LIQUIDITY_TAKER,
    REASON_INVALID,
    REASON_UNKNOWN_ORDER,
    TYPE_LIMIT,
    VERDICT_APPROVED,
)

if TYPE_CHECKING:
    from engines.execution._orders import Order, OrderManager

AMEND_READ = Fields(AMEND, ("amend_id", "order_id", "strategy_id", "symbol_id", "action", "side",
                            "verdict", "reason", "qty", "price", "ts_ns", "decided_ts_ns"))
AmendRow = tuple[Any, ...]  # an AMEND_READ tuple
_AMEND_ID, _ORDER_ID, _STRATEGY_ID = AMEND_READ.amend_id, AMEND_READ.order_id, \
    AMEND_READ.strategy_id
_ACTION, _VERDICT, _REASON = AMEND_READ.action, AMEND_READ.verdict, AMEND_READ.reason


class Amendments:
    """The amend side of one OrderManager: its marks and counts, and `on_amend`."""

    def __init__(self, om: OrderManager, max_strategies: int = 64) -> None:
        self.om = om
        self.high_water: MutableSequence[int] = [0] * max_strategies  # last amend counter seen
        self.operator_high_water: MutableSequence[int] = [0] * max_strategies  # operators'
        self.duplicates = 0
        self.applied = 0
        self.refused = 0

    def on_amend(self, row: AmendRow, now_ns: int, out: list[tuple[Any, ...]]) -> None:
        """Apply one decided AMEND (an AMEND_READ tuple); its one report goes to `out`."""
        amend_id, order_id, strategy_id = row[_AMEND_ID], row[_ORDER_ID], row[_STRATEGY_ID]
        action, verdict, reason = row[_ACTION], row[_VERDICT], row[_REASON]
        counter, marks = amend_id & COUNTER_MASK, self.high_water
        if counter & OPERATOR_BIT:
            counter, marks = counter & OPERATOR_MASK, self.operator_high_water
        if strategy_id >= len(marks) or counter <= marks[strategy_id]:
            self.duplicates += 1  # seen before: applied (and answered) once already
            return
        marks[strategy_id] = counter
        order = self._find(order_id, strategy_id)
        if verdict != VERDICT_APPROVED:
            self._refuse(row, order, reason or REASON_INVALID, now_ns, out)
        elif order is None:
            self._refuse(row, None, REASON_UNKNOWN_ORDER, now_ns, out)
        elif action == AMEND_CANCEL:
            self._cancel(order, now_ns, out)
        elif action == AMEND_REPLACE:
            self._replace(row, order, now_ns, out)
        else:
            self._refuse(row, order, REASON_INVALID, now_ns, out)

    def _find(self, order_id: int, strategy_id: int) -> Order | None:
        """The open order (resting, or waiting out the venue latency) of that strategy."""
        om = self.om
        order = om.resting.get(order_id)
        if order is None:
            order = next((o for o in om.pending if o.order_id == order_id), None)
        return order if order is not None and order.strategy_id == strategy_id else None

    def _cancel(self, order: Order, now_ns: int, out: list[tuple[Any, ...]]) -> None:
        om = self.om
        order.apply(OrderEvent.CANCEL)
        order.leaves = 0
        om.resting.pop(order.order_id, None)
        if order in om.pending:
            om.pending.remove(order)
        self.applied += 1
        out.append(om._fill(order, 0, 0.0, FILL_CANCELLED, now_ns))

    def _replace(self, row: AmendRow, order: Order, now_ns: int,
                 out: list[tuple[Any, ...]]) -> None:
        qty, price = row[AMEND_READ.qty], row[AMEND_READ.price]
        if qty <= order.filled or not price > 0:
            self._refuse(row, order, REASON_INVALID, now_ns, out)
            return
        code = self.om.admit(order.symbol_id, order.strategy_id, order.side, TYPE_LIMIT
                             if order.type != 0 else 0, qty, price, amending=order.order_id)
        if code:
            self._refuse(row, order, code, now_ns, out)
            return
        order.apply(OrderEvent.REPLACE)
        order.leaves, order.price = qty - order.filled, price
        self.applied += 1
        out.append(self.om._fill(order, 0, price, FILL_REPLACED, now_ns))

    def _refuse(self, row: AmendRow, order: Order | None, reason: int, now_ns: int,
                out: list[tuple[Any, ...]]) -> None:
        om, self.refused = self.om, self.refused + 1
        if order is not None:
            order.apply(OrderEvent.AMEND_REJECT)
            out.append(om._fill(order, 0, 0.0, FILL_AMEND_REJECTED, now_ns, reason))
            return
        (_amend_id, order_id, strategy_id, symbol_id, _action, side, _v, _r, _qty, price,
         ts_ns, decided_ts_ns) = row
        om.exec_id += 1
        om.order_prices.append(price)
        out.append((order_id, om.exec_id, strategy_id, symbol_id, side, LIQUIDITY_TAKER,
                    FILL_AMEND_REJECTED, reason, 0, 0.0, 0, now_ns, 0, 0, ts_ns, decided_ts_ns))
