"""The order lifecycle at the simulated venue: acknowledgements, cancels and replaces, the
instrument rules and self-match prevention; then risk and execution over real rings."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _poll import poll_until

from engines.execution._amends import AMEND_READ
from engines.execution._instruments import Instruments
from engines.execution._orders import DECISION_READ, FILL_WRITTEN, OrderManager, VenueParams
from engines.harness import Harness
from engines.params import ParamError
from shm.layout import (
    AMEND,
    AMEND_CANCEL,
    AMEND_REPLACE,
    DECISION,
    FILL_ACCEPTED,
    FILL_AMEND_REJECTED,
    FILL_CANCELLED,
    FILL_FILLED,
    FILL_PARTIAL,
    FILL_REJECTED,
    FILL_REPLACED,
    ORDER,
    REASON_KILL_SWITCH,
    REASON_LOT_SIZE,
    REASON_PRICE_BAND,
    REASON_SELF_MATCH,
    REASON_TICK_SIZE,
    REASON_UNKNOWN_ORDER,
    TICK,
    TIF_DAY,
    TIF_IOC,
    VERDICT_APPROVED,
    VERDICT_REJECTED,
)

STATUS, REASON, QTY = FILL_WRITTEN.status, FILL_WRITTEN.reason, FILL_WRITTEN.qty
PRICE, LEAVES = FILL_WRITTEN.price, FILL_WRITTEN.leaves_qty
QUOTES = {0: (99.99, 100.01, 300, 300)}
SID = 1 << 40  # strategy 1's order ids


def _decision(counter: int, *, side: int = 1, qty: int = 100, price: float = 100.01,
              tif: int = TIF_IOC, strategy_id: int = 1) -> tuple[Any, ...]:
    """An approved limit DECISION as the order manager reads it."""
    d = np.zeros(1, DECISION)
    for name, value in (("order_id", (strategy_id << 40) | counter), ("strategy_id", strategy_id),
                        ("side", side), ("type", 1), ("tif", tif), ("qty", qty),
                        ("price", price), ("ts_ns", 5), ("verdict", VERDICT_APPROVED)):
        d[name] = value
    return DECISION_READ.struct.unpack(d.tobytes())


def _amend(counter: int, order: int, action: int, qty: int = 0, price: float = 0.0,
           verdict: int = VERDICT_APPROVED, reason: int = 0) -> tuple[Any, ...]:
    a = np.zeros(1, AMEND)
    a["amend_id"], a["order_id"], a["strategy_id"], a["action"] = SID | counter, SID | order, 1, \
        action
    a["side"], a["qty"], a["price"], a["verdict"], a["reason"] = 1, qty, price, verdict, reason
    return AMEND_READ.struct.unpack(a.tobytes())


def _resting(om: OrderManager, counter: int, **fields: Any) -> list[tuple[Any, ...]]:
    """A DAY buy below the ask: it rests, acknowledged."""
    out: list[tuple[Any, ...]] = []
    om.on_decision(_decision(counter, tif=TIF_DAY, price=fields.pop("price", 99.0), **fields),
                   0, out)
    om.match(10, QUOTES, out)
    return out


def test_match_when_order_rests_acknowledges_it_once() -> None:
    """A DAY order that does not trade gets one FILL_ACCEPTED with its whole quantity open;
    an IOC that trades at once gets no acknowledgement before its fill."""
    om = OrderManager(VenueParams(), [0] * 4)
    out = _resting(om, 1)
    om.match(20, QUOTES, out)
    assert [(r[STATUS], r[QTY], r[LEAVES]) for r in out] == [(FILL_ACCEPTED, 0, 100)]
    ioc: list[tuple[Any, ...]] = []
    assert om.trade_now(_decision(2, tif=TIF_IOC, side=-1, price=99.99), 30, QUOTES, ioc) is False
    om.on_decision(_decision(2, tif=TIF_IOC, side=-1, price=99.99), 30, ioc)
    om.match(30, QUOTES, ioc)
    assert [r[STATUS] for r in ioc] == [FILL_FILLED]


def test_on_amend_when_cancel_of_resting_order_cancels_it_and_a_repeat_is_dropped() -> None:
    """A cancel ends the order (leaves 0); the same amend id again changes nothing."""
    om = OrderManager(VenueParams(), [0] * 4)
    _resting(om, 1)
    out: list[tuple[Any, ...]] = []
    om.amends.on_amend(_amend(2, 1, AMEND_CANCEL), 40, out)
    om.amends.on_amend(_amend(2, 1, AMEND_CANCEL), 41, out)
    assert [(r[STATUS], r[LEAVES]) for r in out] == [(FILL_CANCELLED, 0)]
    assert not om.resting and om.amends.duplicates == 1


def test_on_amend_when_replace_moves_price_then_order_trades_at_new_price() -> None:
    """A replace to a marketable price and a smaller quantity: FILL_REPLACED, then the order
    trades the new quantity at the touch."""
    om = OrderManager(VenueParams(), [0] * 4)
    _resting(om, 1)
    out: list[tuple[Any, ...]] = []
    om.amends.on_amend(_amend(2, 1, AMEND_REPLACE, qty=60, price=100.01), 40, out)
    om.match(50, QUOTES, out)
    assert [(r[STATUS], r[QTY], r[PRICE], r[LEAVES]) for r in out] == [
        (FILL_REPLACED, 0, 100.01, 60), (FILL_FILLED, 60, 100.01, 0)]


def test_on_amend_when_replace_below_filled_or_order_unknown_is_refused_with_reason() -> None:
    """A replace under the filled quantity is refused and leaves the order as it was; a cancel
    of an order not open is refused as unknown."""
    om = OrderManager(VenueParams(max_fill_fraction=0.1), [0] * 4)
    out: list[tuple[Any, ...]] = []
    om.on_decision(_decision(1, tif=TIF_DAY, price=100.01), 0, out)
    om.match(10, QUOTES, out)  # 30 of 100 traded, 70 rest
    om.amends.on_amend(_amend(2, 1, AMEND_REPLACE, qty=20, price=100.01), 20, out)
    om.amends.on_amend(_amend(3, 9, AMEND_CANCEL), 30, out)
    assert [(r[STATUS], r[QTY], r[LEAVES]) for r in out[:2]] == [
        (FILL_PARTIAL, 30, 70), (FILL_AMEND_REJECTED, 0, 70)]
    assert (out[2][STATUS], out[2][REASON]) == (FILL_AMEND_REJECTED, REASON_UNKNOWN_ORDER)
    assert om.resting[SID | 1].leaves == 70


def test_on_amend_when_risk_rejected_reports_risks_reason() -> None:
    """A replace that risk refused never touches the order; its reason is reported."""
    om = OrderManager(VenueParams(), [0] * 4)
    _resting(om, 1)
    out: list[tuple[Any, ...]] = []
    om.amends.on_amend(_amend(2, 1, AMEND_REPLACE, qty=50, price=200.0,
                              verdict=VERDICT_REJECTED, reason=REASON_PRICE_BAND), 40, out)
    assert [(r[STATUS], r[REASON]) for r in out] == [(FILL_AMEND_REJECTED, REASON_PRICE_BAND)]
    assert om.resting[SID | 1].price == 99.0


def test_on_decision_when_off_tick_or_lot_is_rejected_with_reason() -> None:
    """With tick 0.05 and lot 10 for A: 99.03 is off the grid, 15 is not whole lots; 99.05 x
    20 rests. Market orders are not held to the tick grid."""
    rules = Instruments.parse(("A", "B"), {"A": 0.05}, {"A": 10}, "test")
    om = OrderManager(VenueParams(), [0] * 4, rules)
    out: list[tuple[Any, ...]] = []
    om.on_decision(_decision(1, tif=TIF_DAY, price=99.03, qty=20), 0, out)
    om.on_decision(_decision(2, tif=TIF_DAY, price=99.05, qty=15), 0, out)
    om.on_decision(_decision(3, tif=TIF_DAY, price=99.05, qty=20), 0, out)
    om.match(10, QUOTES, out)
    assert [(r[STATUS], r[REASON]) for r in out] == [
        (FILL_REJECTED, REASON_TICK_SIZE), (FILL_REJECTED, REASON_LOT_SIZE), (FILL_ACCEPTED, 0)]
    assert rules is not None and rules.check(0, 0, 20, 99.0312) == 0  # TYPE_MARKET


def test_instruments_when_size_bad_or_symbol_unknown_names_the_key() -> None:
    """A size that is not positive, or a symbol not in the topology, is refused by key."""
    with pytest.raises(ParamError, match=r"where\.tick_sizes\.A: expected a positive number"):
        Instruments.parse(("A",), {"A": -1}, None, "where")
    with pytest.raises(ParamError, match=r"where\.lot_sizes\.Z: not a symbol"):
        Instruments.parse(("A",), None, {"Z": 10}, "where")
    with pytest.raises(ParamError, match=r"lot_sizes\.A: expected a positive integer"):
        Instruments.parse(("A",), None, {"A": 2.5}, "where")
    assert Instruments.parse(("A",), None, None, "where") is None


def test_on_decision_when_it_would_cross_own_resting_order_is_rejected_self_match() -> None:
    """A sell at or under the strategy's resting buy is refused (the newest goes); another
    strategy's sell (it trades at the bid), or one above the buy, is taken."""
    om = OrderManager(VenueParams(), [0] * 4)
    _resting(om, 1, price=99.5)
    out: list[tuple[Any, ...]] = []
    om.on_decision(_decision(2, tif=TIF_DAY, side=-1, price=99.5), 20, out)
    om.on_decision(_decision(3, tif=TIF_DAY, side=-1, price=100.5), 20, out)
    om.on_decision(_decision(1, tif=TIF_DAY, side=-1, price=99.5, strategy_id=2), 20, out)
    om.match(30, QUOTES, out)
    assert [(r[STATUS], r[REASON]) for r in out] == [
        (FILL_REJECTED, REASON_SELF_MATCH), (FILL_ACCEPTED, 0), (FILL_FILLED, 0)]


RINGS = {"ticks_r": ("tick", "overwrite", 64), "ticks_x": ("tick", "overwrite", 64),
         "orders": ("order", "block", 64), "amends": ("amend", "block", 64),
         "decisions": ("decision", "block", 64), "amend_decisions": ("amend", "block", 64),
         "fills": ("fill", "block", 64)}


def _pipeline(h: Harness) -> tuple[Any, Any]:
    risk = h.engine("engines.risk:RiskEngine", "risk", ("ticks_r", "orders", "amends"),
                    ("decisions", "amend_decisions"), wake_on_ticks=True)
    execution = h.engine("engines.execution:ExecutionEngine", "execution",
                         ("ticks_x", "decisions", "amend_decisions"), ("fills",),
                         publish_executions=False, wake_on_ticks=True)
    tick = np.zeros(1, TICK)  # after the readers attached: they start at the ring's cursor
    tick["seq"], tick["bid"], tick["ask"], tick["bid_size"], tick["ask_size"] = \
        1, 99.99, 100.01, 300, 300
    h.writer("ticks_r").write(tick)
    h.writer("ticks_x").write(tick)
    poll_until(lambda: risk.ticks.available() == 0 and execution.ticks.available() == 0,
               risk, execution)
    return risk, execution


def _order(counter: int, price: float) -> np.ndarray:
    o = np.zeros(1, ORDER)
    o["order_id"], o["strategy_id"], o["side"], o["type"], o["tif"] = SID | counter, 1, 1, 1, \
        TIF_DAY
    o["qty"], o["price"], o["ts_ns"], o["ttl_ms"] = 100, price, time.time_ns(), 60_000
    return o


def _amend_record(counter: int, order: int, action: int, qty: int = 0,
                  price: float = 0.0) -> np.ndarray:
    a = np.zeros(1, AMEND)
    a["amend_id"], a["order_id"], a["strategy_id"], a["action"] = SID | counter, SID | order, 1, \
        action
    a["side"], a["qty"], a["price"], a["ts_ns"] = 1, qty, price, time.time_ns()
    return a


@pytest.mark.timeout(60)
def test_pipeline_when_orders_amended_reports_ack_replace_fill_cancel(
        shm_dir: Path, runtime_dir: Path) -> None:
    """Through real rings: risk decides an order and its amendments, execution reports them
    on the fills ring: acknowledged, replaced to the ask and filled; a second order
    acknowledged and cancelled; a replace out of the price band refused by risk."""
    with Harness(shm_dir, runtime_dir, RINGS) as h:
        fills, decided = h.reader("fills", 1), h.reader("amend_decisions", 1)
        risk, execution = _pipeline(h)
        engines = [risk, execution]
        h.writer("orders").write(np.concatenate([_order(1, 99.8), _order(2, 99.7)]))
        poll_until(lambda: fills.available() >= 2, *engines)
        h.writer("amends").write(np.concatenate([
            _amend_record(3, 1, AMEND_REPLACE, qty=80, price=100.01),
            _amend_record(4, 2, AMEND_REPLACE, qty=80, price=150.0),  # out of the band
            _amend_record(5, 2, AMEND_CANCEL)]))
        poll_until(lambda: fills.available() >= 6, *engines)
        got = fills.read(16)
        rows = list(zip(got["order_id"].tolist(), got["status"].tolist(), got["qty"].tolist(),
                        got["reason"].tolist(), strict=True))
        assert rows == [(SID | 1, FILL_ACCEPTED, 0, 0), (SID | 2, FILL_ACCEPTED, 0, 0),
                        (SID | 1, FILL_REPLACED, 0, 0),
                        (SID | 2, FILL_AMEND_REJECTED, 0, REASON_PRICE_BAND),
                        (SID | 2, FILL_CANCELLED, 0, 0), (SID | 1, FILL_FILLED, 80, 0)]
        verdicts = decided.read(8)
        assert verdicts["verdict"].tolist() == [VERDICT_APPROVED, VERDICT_REJECTED,
                                                VERDICT_APPROVED]
        fills.close()
        decided.close()
        h.stop(execution)
        h.stop(risk)


@pytest.mark.timeout(60)
def test_risk_when_kill_switch_engaged_passes_cancels_and_refuses_replaces(
        shm_dir: Path, runtime_dir: Path) -> None:
    """Engaged, risk still approves a cancel (it only takes risk off) but not a replace."""
    with Harness(shm_dir, runtime_dir, RINGS) as h:
        decided = h.reader("amend_decisions", 1)
        risk, execution = _pipeline(h)
        risk._kill_switch(engage=True, why="test")
        h.writer("amends").write(np.concatenate([
            _amend_record(1, 7, AMEND_REPLACE, qty=10, price=100.0),
            _amend_record(2, 7, AMEND_CANCEL)]))
        poll_until(lambda: decided.available() >= 2, risk)
        got = decided.read(4)
        assert got["verdict"].tolist() == [VERDICT_REJECTED, VERDICT_APPROVED]
        assert got["reason"].tolist() == [REASON_KILL_SWITCH, 0]
        assert DECISION.itemsize == 96  # the order path's records keep their sizes
        decided.close()
        h.stop(execution)
        h.stop(risk)


def test_simulated_venue_when_halted_rejects_new_orders_venue_down_and_sends_none() -> None:
    """The simulated venue is a Venue; halted (its session down), a new order is answered
    FILL_REJECTED REASON_VENUE_DOWN and never reaches the book; resumed, orders trade."""
    from engines import SessionState, Venue
    from engines.execution._simvenue import SimulatedVenue
    from shm.layout import REASON_VENUE_DOWN

    om = OrderManager(VenueParams(), [0] * 4)
    venue = SimulatedVenue("sim", om, dict(QUOTES))
    assert isinstance(venue, Venue) and venue.session_state() is SessionState.UP
    venue.halt()
    out: list[tuple[Any, ...]] = []
    venue.send_new(_decision(1), 0, out)
    venue.poll(10, out)
    assert [(r[STATUS], r[REASON]) for r in out] == [(FILL_REJECTED, REASON_VENUE_DOWN)]
    assert not om.pending and not om.resting
    venue.recover(20, out)
    venue.send_new(_decision(2), 20, out)
    venue.poll(30, out)
    venue.send_cancel(_amend(3, 9, AMEND_CANCEL), 40, out)
    assert [r[STATUS] for r in out[1:]] == [FILL_FILLED, FILL_AMEND_REJECTED]
    with pytest.raises(ValueError, match="action 1 sent as 2"):
        venue.send_replace(_amend(4, 9, AMEND_CANCEL), 50, out)


@pytest.mark.timeout(60)
def test_engine_when_venue_session_down_reports_venue_down_for_every_order(
        shm_dir: Path, runtime_dir: Path) -> None:
    """Execution over real rings with its venue halted: one order alone and a batch each get
    FILL_REJECTED REASON_VENUE_DOWN, and no fill."""
    from shm.layout import REASON_VENUE_DOWN

    rings = {"ticks": ("tick", "overwrite", 64), "decisions": ("decision", "block", 64),
             "fills": ("fill", "block", 64)}
    with Harness(shm_dir, runtime_dir, rings) as h:
        fills = h.reader("fills", 1)
        eng: Any = h.engine("engines.execution:ExecutionEngine", "execution",
                            ("ticks", "decisions"), ("fills",), publish_executions=False)
        eng.venue.halt()
        d = np.zeros(4, DECISION)
        d["order_id"] = [SID | i for i in (1, 2, 3, 4)]
        d["strategy_id"], d["side"], d["type"], d["tif"], d["qty"] = 1, 1, 1, TIF_IOC, 10
        d["price"], d["ts_ns"], d["verdict"] = 100.01, time.time_ns(), VERDICT_APPROVED
        h.writer("decisions").write(d[:1])
        poll_until(lambda: fills.available() >= 1, eng)
        h.writer("decisions").write(d[1:])
        poll_until(lambda: fills.available() >= 4, eng)
        got = fills.read(8)
        assert got["status"].tolist() == [FILL_REJECTED] * 4
        assert got["reason"].tolist() == [REASON_VENUE_DOWN] * 4 and got["qty"].sum() == 0
        fills.close()
        h.stop(eng)
