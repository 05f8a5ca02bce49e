"""The order lifecycle: the OMS state table over every report an order can get, with a typed
error on a report the table does not allow from the order's state.

One table serves every venue (the simulator, a FIX gateway): a report is the event, the
order's state the key. An amendment in flight (a cancel or replace sent, not yet answered)
is not a state of its own: fills go on arriving meanwhile, so it is a flag beside the state
(`Order.amending`), and its answer (cancelled, replaced, or refused) is an event like any other.
"""

from __future__ import annotations

import enum


class OrderState(enum.Enum):
    # Members are singletons: hash by identity (C) instead of Enum's hash(name) (Python),
    # which the per-order transition lookups would otherwise pay four times per fill.
    __hash__ = object.__hash__

    NEW = "new"  # decided and sent, no report yet
    ACCEPTED = "accepted"  # acknowledged, working, nothing filled
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"


class OrderEvent(enum.Enum):
    __hash__ = object.__hash__

    ACCEPT = "accept"
    REJECT = "reject"
    PARTIAL_FILL = "partial_fill"
    FILL = "fill"
    CANCEL = "cancel"  # cancelled: by request, or the unfilled rest of an IOC/FOK
    REPLACE = "replace"  # a replace took effect (new quantity and price)
    AMEND_REJECT = "amend_reject"  # a cancel or replace was refused: the order is unchanged
    EXPIRE = "expire"


S, E = OrderState, OrderEvent
# A venue may report an order's first fill (or its cancel) without an acknowledgement before
# it: an IOC that trades at once ends in its first report. A replace or an amend refusal
# applies only to a working order; a working order's state is kept by both.
ORDER_TRANSITIONS: dict[tuple[OrderState, OrderEvent], OrderState] = {
    (S.NEW, E.ACCEPT): S.ACCEPTED,
    (S.NEW, E.REJECT): S.REJECTED,
    (S.NEW, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.NEW, E.FILL): S.FILLED,
    (S.NEW, E.CANCEL): S.CANCELLED,
    (S.NEW, E.EXPIRE): S.EXPIRED,
    (S.ACCEPTED, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.ACCEPTED, E.FILL): S.FILLED,
    (S.ACCEPTED, E.CANCEL): S.CANCELLED,
    (S.ACCEPTED, E.REPLACE): S.ACCEPTED,
    (S.ACCEPTED, E.AMEND_REJECT): S.ACCEPTED,
    (S.ACCEPTED, E.EXPIRE): S.EXPIRED,
    (S.PARTIALLY_FILLED, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, E.FILL): S.FILLED,
    (S.PARTIALLY_FILLED, E.CANCEL): S.CANCELLED,
    (S.PARTIALLY_FILLED, E.REPLACE): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, E.AMEND_REJECT): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, E.EXPIRE): S.EXPIRED,
}
TERMINAL = frozenset({S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED})
WORKING = frozenset({S.ACCEPTED, S.PARTIALLY_FILLED})


class InvalidOrderTransition(Exception):
    """An order event that the state table does not allow from the order's state."""

    def __init__(self, order_id: int, state: OrderState, event: OrderEvent) -> None:
        super().__init__(f"order {order_id:#x}: no transition from {state.name} on {event.name}")
        self.order_id, self.state, self.event = order_id, state, event


def next_state(order_id: int, state: OrderState, event: OrderEvent) -> OrderState:
    """The state after `event`, or InvalidOrderTransition naming the order, state and event."""
    nxt = ORDER_TRANSITIONS.get((state, event))
    if nxt is None:
        raise InvalidOrderTransition(order_id, state, event)
    return nxt
