"""Property tests of the OMS order book: random reports against a model written apart from
the lifecycle table (plain rules over strings), plus the table's structural properties."""

from __future__ import annotations

import pytest
from _reach import reachable
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from engines.execution._lifecycle import (
    ORDER_TRANSITIONS,
    TERMINAL,
    InvalidOrderTransition,
    OrderEvent,
    OrderState,
    next_state,
)
from engines.execution._oms import OrderBook, OrderQuantityError

pytestmark = pytest.mark.timeout(120)

E = OrderEvent
LIVE = {"new", "accepted", "partial"}
WORKING = {"accepted", "partial"}
# The model's view of which states take each event (the table is not read here).
FROM = {E.ACCEPT: {"new"}, E.REJECT: {"new"}, E.PARTIAL_FILL: LIVE, E.FILL: LIVE,
        E.CANCEL: LIVE, E.EXPIRE: LIVE, E.REPLACE: WORKING, E.AMEND_REJECT: WORKING}
NAMES = {OrderState.NEW: "new", OrderState.ACCEPTED: "accepted",
         OrderState.PARTIALLY_FILLED: "partial", OrderState.FILLED: "filled",
         OrderState.CANCELLED: "cancelled", OrderState.REJECTED: "rejected",
         OrderState.EXPIRED: "expired"}


class ModelOrder:
    def __init__(self, qty: int) -> None:
        self.state, self.qty, self.filled = "new", qty, 0


class OrderBookMachine(RuleBasedStateMachine):
    """Orders created and reported at random; the book must agree with the model after every
    step, refuse exactly what the model refuses, and be unchanged by a refused report."""

    ids = Bundle("ids")

    def __init__(self) -> None:
        super().__init__()
        self.book, self.model, self.next_id = OrderBook(), {}, 1  # type: ignore[var-annotated]

    @rule(target=ids, qty=st.integers(1, 50))
    def new(self, qty: int) -> int:
        oid, self.next_id = self.next_id, self.next_id + 1
        self.book.new(oid, qty, 10.0)
        self.model[oid] = ModelOrder(qty)
        return oid

    @rule(oid=ids, event=st.sampled_from(list(E)), qty=st.integers(-1, 60))
    def report(self, oid: int, event: OrderEvent, qty: int) -> None:
        m = self.model[oid]
        before = (self.book.orders[oid].state, self.book.orders[oid].qty,
                  self.book.orders[oid].filled)
        open_qty = m.qty - m.filled
        if m.state not in FROM[event]:
            with pytest.raises(InvalidOrderTransition) as info:
                self.book.apply(oid, event, qty=qty, new_qty=qty, price=11.0)
            assert (info.value.state.name, info.value.event) == (before[0].name, event)
        elif ((event is E.FILL and qty != open_qty) or (event is E.PARTIAL_FILL
              and not 0 < qty < open_qty) or (event is E.REPLACE and qty <= m.filled)):
            with pytest.raises(OrderQuantityError):
                self.book.apply(oid, event, qty=qty, new_qty=qty, price=11.0)
        else:
            self.book.apply(oid, event, qty=qty, new_qty=qty, price=11.0)
            self._model_apply(m, event, qty)
            return
        o = self.book.orders[oid]
        assert (o.state, o.qty, o.filled) == before  # a refused report changes nothing

    @staticmethod
    def _model_apply(m: ModelOrder, event: OrderEvent, qty: int) -> None:
        if event is E.ACCEPT:
            m.state = "accepted"
        elif event is E.REJECT:
            m.state = "rejected"
        elif event in (E.PARTIAL_FILL, E.FILL):
            m.filled += qty
            m.state = "filled" if m.filled == m.qty else "partial"
        elif event is E.CANCEL:
            m.state = "cancelled"
        elif event is E.EXPIRE:
            m.state = "expired"
        elif event is E.REPLACE:
            m.qty = qty

    @invariant()
    def agrees_with_model(self) -> None:
        for oid, m in self.model.items():
            o = self.book.orders[oid]
            assert (NAMES[o.state], o.qty, o.filled) == (m.state, m.qty, m.filled)
            assert 0 <= o.filled <= o.qty
            assert o.leaves == (0 if m.state not in LIVE else m.qty - m.filled)
        assert {o.order_id for o in self.book.open_orders()} == {
            i for i, m in self.model.items() if m.state in LIVE}


TestOrderBook = OrderBookMachine.TestCase
TestOrderBook.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


@given(st.sampled_from(list(OrderState)), st.sampled_from(list(OrderEvent)))
def test_next_state_when_any_pair_moves_per_table_or_raises_naming_both(
        state: OrderState, event: OrderEvent) -> None:
    """Every (state, event) moves where the table says, or raises naming the pair."""
    if (state, event) in ORDER_TRANSITIONS:
        assert next_state(1, state, event) is ORDER_TRANSITIONS[(state, event)]
    else:
        with pytest.raises(InvalidOrderTransition, match=f"{state.name}.*{event.name}"):
            next_state(1, state, event)


def test_table_when_terminal_allows_nothing_and_every_state_is_reachable() -> None:
    """No event leaves a terminal state; every state is reachable from NEW."""
    assert not [k for k in ORDER_TRANSITIONS if k[0] in TERMINAL]
    assert reachable(ORDER_TRANSITIONS, OrderState.NEW) == set(OrderState)
