"""Risk on real exposure, against a model venue: no interleaving of approvals, partial
fills, cancels, expiries and restarts lets the real position pass max_position either way
(or the real gross pass max_gross), and every released quantity comes back as headroom."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from engines.risk._checks import RiskLimits, RiskState, check_batch, state_layout
from engines.risk._exposure import EXPIRY_GRACE_NS, OpenOrders, open_layout
from shm.layout import (
    FILL_CANCELLED,
    FILL_EXPIRED,
    FILL_FILLED,
    FILL_PARTIAL,
    FILL_REJECTED,
    ORDER,
    REASON_OK,
    TICK,
    TIF_GTC,
    TIF_IOC,
)

pytestmark = pytest.mark.timeout(300)
N_SYMBOLS = 2
LIMITS = RiskLimits(max_order_qty=400, max_notional=1e12, max_position=500, max_gross=700,
                    price_band_bps=1e6, max_orders_per_s=10**9, max_strategies=2,
                    order_ttl_ms=1_000)
TTL_NS = LIMITS.order_ttl_ms * 1_000_000


class VenueOrder:
    def __init__(self, order_id: int, sym: int, side: int, qty: int, tif: int,
                 ts_ns: int) -> None:
        self.order_id, self.sym, self.side, self.leaves = order_id, sym, side, qty
        self.tif, self.ts_ns = tif, ts_ns


class ExposureMachine(RuleBasedStateMachine):
    """Risk (RiskState + OpenOrders over one set of arrays, as its state file holds them)
    against a venue that fills what risk approved, in any amounts and any order."""

    def __init__(self) -> None:
        super().__init__()
        layout = state_layout(N_SYMBOLS, LIMITS) | open_layout(256)
        self.arrays = {k: np.zeros(n, dtype=dt) for k, (dt, n) in layout.items()}
        self._start()
        self.venue: dict[int, VenueOrder] = {}
        self.real = [0] * N_SYMBOLS
        self.next_id = 1
        self.now_ns = 10**18

    def _start(self) -> None:
        """A (re)started risk: everything but the mids comes from the arrays."""
        self.state = RiskState(N_SYMBOLS, LIMITS, self.arrays)
        ticks = np.zeros(N_SYMBOLS, TICK)
        ticks["symbol_id"] = np.arange(N_SYMBOLS)
        ticks["bid"], ticks["ask"] = 99.99, 100.01
        self.state.on_ticks(ticks)
        self.opens = OpenOrders(self.state, self.arrays)

    def _orders(self, rows: list[tuple[int, int, int, int]]) -> np.ndarray:
        orders = np.zeros(len(rows), ORDER)
        for i, (sym, side, qty, tif) in enumerate(rows):
            orders[i] = (self.next_id + i, 1, sym, side, 1, tif, 0, 0, qty, 100.0,
                         self.now_ns, 0, 0)
        return orders

    @rule(rows=st.lists(st.tuples(st.integers(0, N_SYMBOLS - 1), st.sampled_from([1, -1]),
                                  st.integers(1, 400), st.sampled_from([TIF_IOC, TIF_GTC])),
                        min_size=1, max_size=8),
          small=st.sampled_from([0, 16]))
    def submit(self, rows: list[tuple[int, int, int, int]], small: int) -> None:
        """A batch of orders through the checks (vectorised or one by one); the approved
        ones reach the venue and are followed."""
        orders = self._orders(rows)
        _, reason = check_batch(self.state, orders, small=small)
        self.next_id += len(rows)
        for order, code in zip(orders, reason.tolist(), strict=True):
            if code != REASON_OK:
                continue
            oid, sym, side, qty = (int(order["order_id"]), int(order["symbol_id"]),
                                   int(order["side"]), int(order["qty"]))
            self.opens.approve(oid, sym, side, int(order["tif"]), qty, self.now_ns + TTL_NS)
            self.venue[oid] = VenueOrder(oid, sym, side, qty, int(order["tif"]), self.now_ns)

    def _report(self, order: VenueOrder, status: int, qty: int) -> None:
        self.opens.on_fill(order.order_id, order.sym, order.side, status, qty)

    @precondition(lambda self: self.venue)
    @rule(data=st.data())
    def fill(self, data: st.DataObject) -> None:
        """Part or all of one open order trades (a partial fill, or the last one)."""
        order = self.venue[data.draw(st.sampled_from(sorted(self.venue)))]
        qty = data.draw(st.sampled_from([1, order.leaves]) | st.integers(1, order.leaves))
        order.leaves -= qty
        self.real[order.sym] += order.side * qty
        self._report(order, FILL_FILLED if order.leaves == 0 else FILL_PARTIAL, qty)
        if order.leaves == 0:
            del self.venue[order.order_id]

    @precondition(lambda self: self.venue)
    @rule(data=st.data(), status=st.sampled_from([FILL_CANCELLED, FILL_EXPIRED, FILL_REJECTED]))
    def complete(self, data: st.DataObject, status: int) -> None:
        """The rest of an order is cancelled (an IOC remainder), expires or is rejected."""
        order = self.venue.pop(data.draw(st.sampled_from(sorted(self.venue))))
        self._report(order, status, 0)

    @rule(dt_ms=st.integers(0, 4_000))
    def time_passes(self, dt_ms: int) -> None:
        """Time goes on: the venue never trades an IOC order past its time to live (its
        completion may never come), and risk gives such reservations back after the grace."""
        self.now_ns += dt_ms * 1_000_000
        for oid in [o.order_id for o in self.venue.values()
                    if o.tif == TIF_IOC and self.now_ns - o.ts_ns > TTL_NS]:
            del self.venue[oid]  # lost: no completion is reported
        self.opens.expire(self.now_ns)

    @rule()
    def restart(self) -> None:
        """Risk restarts on the same state: the venue's orders are still followed."""
        self._start()

    @invariant()
    def real_exposure_within_limits(self) -> None:
        assert all(abs(p) <= LIMITS.max_position for p in self.real), self.real
        assert sum(abs(p) for p in self.real) <= LIMITS.max_gross, self.real

    @invariant()
    def risk_agrees_with_the_venue(self) -> None:
        """Filled position is the real one; what stays reserved is at least what the venue
        could still fill (exactly that, once IOC orders past the grace are given back)."""
        assert self.state.position.tolist() == self.real
        for sym in range(N_SYMBOLS):
            for side, held in ((1, self.state.open_buy), (-1, self.state.open_sell)):
                live = sum(o.leaves for o in self.venue.values()
                           if o.sym == sym and o.side == side)
                lost = sum(int(self.opens.qty[i]) for oid, i in self.opens.slots.items()
                           if oid not in self.venue and int(self.opens.sym[i]) == sym
                           and int(self.opens.side[i]) == side)
                assert int(held[sym]) == live + lost
        worst = [self.state.exposure(s) for s in range(N_SYMBOLS)]
        assert self.state.gross == sum(worst)
        assert all(w <= LIMITS.max_position for w in worst)
        assert self.state.gross <= LIMITS.max_gross

    def teardown(self) -> None:
        """Released quantity comes back as headroom: once every order is over (and the
        grace has passed), an order up to the real room on either side is approved."""
        for order in list(self.venue.values()):
            self._report(order, FILL_CANCELLED, 0)
        self.venue.clear()
        self.opens.expire(self.now_ns + TTL_NS + EXPIRY_GRACE_NS + 1)
        assert self.state.open_buy.tolist() == [0] * N_SYMBOLS
        assert self.state.open_sell.tolist() == [0] * N_SYMBOLS
        for sym in range(N_SYMBOLS):
            others = sum(abs(p) for s, p in enumerate(self.real) if s != sym)
            for side in (1, -1):
                # the worst case after the order, side * real + room, within both limits
                room = min(LIMITS.max_position, LIMITS.max_gross - others) - side * self.real[sym]
                room = min(room, LIMITS.max_order_qty)
                if room <= 0:
                    continue
                probe = RiskState(N_SYMBOLS, LIMITS, {k: v.copy() for k, v in
                                                      self.arrays.items()})
                probe.last_mid[:] = 100.0
                _, reason = check_batch(probe, self._orders([(sym, side, room, TIF_IOC)]))
                assert reason.tolist() == [REASON_OK], (sym, side, room, self.real)


ExposureMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=30,
                                             deadline=None)
test_exposure_machine = ExposureMachine.TestCase


def test_exposure_when_ioc_remainders_are_released_the_real_position_stays_within_limits(
) -> None:
    """The case from the issue: buys approved and only partly filled, their IOC remainders
    cancelled, then sells: charging approved quantity would let the real position run past
    -max_position; the reservation is given back and the real short stays bounded."""
    layout = state_layout(1, LIMITS) | open_layout(64)
    arrays = {k: np.zeros(n, dtype=dt) for k, (dt, n) in layout.items()}
    state = RiskState(1, LIMITS, arrays)
    state.last_mid[:] = 100.0
    opens = OpenOrders(state, arrays)
    real, oid = 0, 0
    for _round in range(20):
        for side in (1, -1):
            oid += 1
            order = np.zeros(1, ORDER)
            order[0] = (oid, 1, 0, side, 1, TIF_IOC, 0, 0, 250, 100.0, 0, 0, 0)
            _, reason = check_batch(state, order)
            if reason[0] != REASON_OK:
                continue
            opens.approve(oid, 0, side, TIF_IOC, 250, TTL_NS)
            filled = 250 if side < 0 else 1  # sells fill, buys barely do
            real += side * filled
            opens.on_fill(oid, 0, side, FILL_FILLED if filled == 250 else FILL_PARTIAL, filled)
            if filled < 250:
                opens.on_fill(oid, 0, side, FILL_CANCELLED, 0)
        assert abs(real) <= LIMITS.max_position
    assert state.position.tolist() == [real] and state.open_buy.tolist() == [0]
