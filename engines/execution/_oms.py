"""The order book of an order manager: every order by id with its state and quantities, moved
only by the lifecycle table (engines.execution._lifecycle) and quantity rules that hold always.

What a venue gateway, strategy or positions keeps of the orders it sent or saw reported: the
same reports in give the same book (the property test holds it to a model). A report that
breaks a rule raises a typed error naming the order; the book is unchanged by it.
"""

from __future__ import annotations

from dataclasses import dataclass

from engines.execution._lifecycle import (
    TERMINAL,
    WORKING,
    InvalidOrderTransition,
    OrderEvent,
    OrderState,
    next_state,
)

__all__ = ["InvalidOrderTransition", "OrderBook", "OrderQuantityError", "TrackedOrder",
           "UnknownOrder"]
E = OrderEvent


class OrderQuantityError(Exception):
    """A report whose quantity the order cannot take (more filled than open, a replace below
    what is already filled)."""

    def __init__(self, order_id: int, what: str) -> None:
        super().__init__(f"order {order_id:#x}: {what}")
        self.order_id = order_id


class UnknownOrder(KeyError):
    """A report or request for an order id the book never had."""

    def __init__(self, order_id: int) -> None:
        super().__init__(f"order {order_id:#x} is not in the book")
        self.order_id = order_id


@dataclass(slots=True)
class TrackedOrder:
    order_id: int
    qty: int  # total quantity, the filled part included (FIX OrderQty)
    price: float
    state: OrderState = OrderState.NEW
    filled: int = 0
    amending: bool = False  # a cancel or replace is in flight

    @property
    def leaves(self) -> int:
        """Quantity still open (0 once the order is over)."""
        return 0 if self.state in TERMINAL else self.qty - self.filled


class OrderBook:
    """Orders by id; `apply` moves one by a report, through the table and the quantity rules."""

    def __init__(self) -> None:
        self.orders: dict[int, TrackedOrder] = {}

    def new(self, order_id: int, qty: int, price: float) -> TrackedOrder:
        if order_id in self.orders:
            raise OrderQuantityError(order_id, "already in the book (an order id is used once)")
        if qty <= 0:
            raise OrderQuantityError(order_id, f"quantity {qty} is not positive")
        order = self.orders[order_id] = TrackedOrder(order_id, qty, price)
        return order

    def get(self, order_id: int) -> TrackedOrder:
        order = self.orders.get(order_id)
        if order is None:
            raise UnknownOrder(order_id)
        return order

    def request_amend(self, order_id: int) -> TrackedOrder:
        """Mark a cancel or replace as sent: only a working order with none in flight."""
        order = self.get(order_id)
        if order.state not in WORKING and order.state is not OrderState.NEW:
            raise InvalidOrderTransition(order_id, order.state, E.CANCEL)
        if order.amending:
            raise OrderQuantityError(order_id, "an amendment is already in flight")
        order.amending = True
        return order

    def apply(self, order_id: int, event: OrderEvent, *, qty: int = 0, new_qty: int = 0,
              price: float = 0.0) -> TrackedOrder:
        """One report: `qty` traded (fills), or the new total `new_qty` and `price` (replace)."""
        order = self.get(order_id)
        nxt = next_state(order_id, order.state, event)
        if event is E.FILL or event is E.PARTIAL_FILL:
            open_qty = order.qty - order.filled
            if qty <= 0 or qty > open_qty:
                raise OrderQuantityError(order_id, f"fill of {qty} with {open_qty} open")
            if (qty == open_qty) != (event is E.FILL):
                raise OrderQuantityError(order_id, f"{event.name} of {qty} with {open_qty} open")
            order.filled += qty
        elif event is E.REPLACE:
            if new_qty <= order.filled:
                raise OrderQuantityError(order_id, f"replace to {new_qty} with {order.filled} "
                                         "already filled")
            order.qty, order.price = new_qty, price
        if event in (E.REPLACE, E.AMEND_REJECT, E.CANCEL) or nxt in TERMINAL:
            order.amending = False
        order.state = nxt
        return order

    def open_orders(self) -> list[TrackedOrder]:
        """Orders not over yet (NEW or working), by id."""
        return [o for _, o in sorted(self.orders.items()) if o.state not in TERMINAL]
