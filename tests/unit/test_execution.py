"""Order manager and simulated venue: the state table, idempotency, partial fills, latency."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _poll import poll_until
from hypothesis import given, settings
from hypothesis import strategies as st

from engines.execution._orders import (
    DECISION_READ,
    FILL_WRITTEN,
    ORDER_TRANSITIONS,
    InvalidOrderTransition,
    Order,
    OrderEvent,
    OrderManager,
    OrderState,
    VenueParams,
    fill_records,
)
from engines.harness import Harness
from shm.layout import (
    DECISION,
    FILL_CANCELLED,
    FILL_EXPIRED,
    FILL_FILLED,
    FILL_PARTIAL,
    TICK,
    TIF_DAY,
    TIF_FOK,
    TIF_IOC,
    TYPE_MARKET,
    VERDICT_APPROVED,
    VERDICT_REJECTED,
)

QUOTES = {0: (99.99, 100.01, 300, 300)}
STATUS, QTY, ORDER_ID = FILL_WRITTEN.status, FILL_WRITTEN.qty, FILL_WRITTEN.order_id
LEAVES = FILL_WRITTEN.leaves_qty


def _decision_record(counter: int, side: int = 1, qty: int = 100, price: float = 100.01,
                     verdict: int = VERDICT_APPROVED, tif: int = TIF_IOC, strategy_id: int = 1,
                     symbol_id: int = 0, type_: int = 1, ttl_ms: int = 0,
                     ts_ns: int = 5) -> np.ndarray:
    """One DECISION, its fields set by name (the rest zero)."""
    d = np.zeros(1, DECISION)
    for name, value in (("order_id", (strategy_id << 40) | counter),
                        ("strategy_id", strategy_id), ("symbol_id", symbol_id), ("side", side),
                        ("type", type_), ("tif", tif), ("ttl_ms", ttl_ms), ("qty", qty),
                        ("price", price),
                        ("ts_ns", ts_ns), ("origin_seq", 9), ("origin_ts_ns", 3),
                        ("verdict", verdict), ("decided_ts_ns", 7)):
        d[name] = value
    return d


def _decision(counter: int, **fields: Any) -> tuple:
    """The same decision as the order manager reads it (a DECISION_READ tuple)."""
    return DECISION_READ.struct.unpack(_decision_record(counter, **fields).tobytes())


def test_transition_table_when_terminal_state_allows_nothing() -> None:
    """No event leaves FILLED, CANCELLED, REJECTED or EXPIRED."""
    for state in (OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED,
                  OrderState.EXPIRED):
        assert not [k for k in ORDER_TRANSITIONS if k[0] is state]


def test_apply_when_event_invalid_raises_naming_state_and_event() -> None:
    """Replacing a NEW (not yet acknowledged) order is an invalid transition."""
    order = Order(_decision(1), 0, 10**9)
    with pytest.raises(InvalidOrderTransition, match=r"NEW.*REPLACE"):
        order.apply(OrderEvent.REPLACE)


def test_match_when_marketable_fills_fully_with_carried_timestamps() -> None:
    """A buy at the ask fills at the ask; the fill carries origin and decision times."""
    om, out = OrderManager(VenueParams(), [0] * 4), []
    om.on_decision(_decision(1), 0, [])
    om.match(10, QUOTES, out)
    fill = fill_records(out)
    assert fill["status"].tolist() == [FILL_FILLED] and fill["qty"].tolist() == [100]
    assert fill["price"][0] == 100.01 and fill["leaves_qty"][0] == 0
    assert (fill["origin_seq"][0], fill["origin_ts_ns"][0], fill["decided_ts_ns"][0]) == (9, 3, 7)


def test_on_decision_when_duplicate_order_id_fills_once() -> None:
    """The same approved order id twice (e.g. replayed after a restart) trades once."""
    om, out = OrderManager(VenueParams(), [0] * 4), []
    om.on_decision(_decision(1), 0, [])
    om.on_decision(_decision(1), 0, [])
    om.match(10, QUOTES, out)
    om.on_decision(_decision(1), 0, [])
    om.on_decision(_decision(2), 0, [])
    om.match(20, QUOTES, out)
    assert [f[ORDER_ID] & 0xFF for f in out] == [1, 2] and om.duplicates == 2


def test_on_decision_when_seen_before_restart_is_not_filled_again() -> None:
    """Ids at or under the persisted high-water mark are never filled again."""
    om, out = OrderManager(VenueParams(), [0, 1]), []
    om.on_decision(_decision(1), 0, [])
    om.match(10, QUOTES, out)
    assert out == []


def test_on_decision_when_rejected_never_trades() -> None:
    """A rejected decision is ignored: fail closed."""
    om, out = OrderManager(VenueParams(), [0] * 4), []
    om.on_decision(_decision(1, verdict=VERDICT_REJECTED), 0, [])
    om.match(10, QUOTES, out)
    assert out == [] and om.ignored_rejected == 1


def test_match_when_touch_too_small_partially_fills_and_cancels_ioc_rest() -> None:
    """An IOC larger than the touch fills partially; the rest is cancelled (qty 0)."""
    om, out = OrderManager(VenueParams(max_fill_fraction=0.5), [0] * 4), []
    om.on_decision(_decision(1, qty=200), 0, [])
    om.match(10, QUOTES, out)
    fills = fill_records(out)
    assert fills["status"].tolist() == [FILL_PARTIAL, FILL_CANCELLED]
    assert fills["qty"].tolist() == [150, 0] and fills["leaves_qty"].tolist() == [50, 0]


def test_match_when_day_order_rests_then_fills_on_later_ticks() -> None:
    """A DAY order rests after a partial fill and completes against the next quote."""
    om, out = OrderManager(VenueParams(max_fill_fraction=0.5), [0] * 4), []
    om.on_decision(_decision(1, qty=200, tif=TIF_DAY), 0, [])
    om.match(10, QUOTES, out)
    assert [(f[STATUS], f[QTY]) for f in out] == [(FILL_PARTIAL, 150)]  # one look at the touch
    assert list(om.resting) == [(1 << 40) | 1]
    om.match(20, QUOTES, out)
    assert [f[STATUS] for f in out] == [FILL_PARTIAL, FILL_FILLED] and not om.resting


def test_match_when_not_marketable_ioc_is_cancelled() -> None:
    """A buy limit under the ask does not trade; IOC cancels it."""
    om, out = OrderManager(VenueParams(), [0] * 4), []
    om.on_decision(_decision(1, price=99.0), 0, [])
    om.match(10, QUOTES, out)
    assert [(f[STATUS], f[QTY]) for f in out] == [(FILL_CANCELLED, 0)]


def test_on_decision_when_past_its_ttl_expires_it_without_trading() -> None:
    """An approved order older than its time to live never trades: one FILL_EXPIRED, counted."""
    om, out = OrderManager(VenueParams(), [0] * 4), []
    om.on_decision(_decision(1, ttl_ms=1), 5 + 1_000_001, out)  # ts_ns 5, 1 ms + 1 ns later
    om.match(2_000_000, QUOTES, out)
    assert [(f[STATUS], f[QTY], f[LEAVES]) for f in out] == [(FILL_EXPIRED, 0, 0)]
    assert om.expired == 1 and not om.pending
    fast, fills = OrderManager(VenueParams(), [0] * 4), []
    assert fast.trade_now(_decision(1, ttl_ms=1), 5 + 1_000_001, QUOTES, fills)
    assert fills == out and fast.expired == 1


def test_match_when_venue_latency_not_elapsed_waits() -> None:
    """With 100 us venue latency nothing trades before the order is due."""
    om, out = OrderManager(VenueParams(latency_us=100.0), [0] * 4), []
    om.on_decision(_decision(1), 1_000, [])
    om.match(50_000, QUOTES, out)
    assert out == [] and om.next_due_s(50_000) == pytest.approx(51e-6)
    om.match(101_000, QUOTES, out)
    assert len(out) == 1


_decisions = st.tuples(
    st.integers(0, 6),  # order counter: repeats are duplicates
    st.integers(0, 5),  # strategy id (4 and 5 unknown to a 4-mark manager)
    st.integers(0, 1),  # symbol (1 has no quote)
    st.sampled_from([1, -1]),
    st.sampled_from([1, TYPE_MARKET]),
    st.sampled_from([TIF_IOC, TIF_FOK, TIF_DAY]),
    st.integers(-1, 400),
    st.sampled_from([99.98, 99.99, 100.01, 100.02]),
    st.sampled_from([VERDICT_APPROVED, VERDICT_APPROVED, VERDICT_REJECTED]),
    st.sampled_from([0, 0, 1, 2]),  # ttl_ms (0: the default); orders age 0.4 ms per row
)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(_decisions, max_size=30), fraction=st.sampled_from([1.0, 0.5, 0.1]),
       latency=st.sampled_from([0.0, 0.0, 5.0]))
def test_trade_now_when_random_decisions_matches_on_decision_then_match(
    rows: list, fraction: float, latency: float
) -> None:
    """The one-decision path gives on_decision + match's fills, counters, marks and book."""
    params = VenueParams(max_fill_fraction=fraction, latency_us=latency)
    fast, slow = OrderManager(params, [0] * 4), OrderManager(params, [0] * 4)
    traded = 0
    for i, (counter, strat, sym, side, type_, tif, qty, price, verdict, ttl) in enumerate(rows):
        row = _decision(counter, strategy_id=strat, symbol_id=sym, side=side, type_=type_,
                        tif=tif, qty=qty, price=price, verdict=verdict, ttl_ms=ttl)
        now = 400_000 * (i + 1)
        out_fast: list = []
        out_slow: list = []
        if not fast.trade_now(row, now, QUOTES, out_fast):
            fast.on_decision(row, now, out_fast)
        if fast.pending or fast.resting:
            fast.match(now, QUOTES, out_fast)
        slow.on_decision(row, now, out_slow)
        if slow.pending or slow.resting:
            slow.match(now, QUOTES, out_slow)
        assert out_fast == out_slow
        assert fast.take_order_prices() == slow.take_order_prices()
        assert (fast.high_water, fast.exec_id, fast.duplicates, fast.ignored_rejected,
                fast.expired, fast.fills) == (slow.high_water, slow.exec_id, slow.duplicates,
                                              slow.ignored_rejected, slow.expired, slow.fills)
        traded += sum(1 for f in out_slow if f[QTY] > 0)
        assert slow.fills == traded  # fills with a quantity, never the cancels or expiries
        assert sorted(fast.resting) == sorted(slow.resting)
        assert [o.order_id for o in fast.pending] == [o.order_id for o in slow.pending]


# -- the engine, over real rings ----------------------------------------------------------------

EXEC_RINGS = {"ticks": ("tick", "overwrite", 64), "decisions": ("decision", "block", 64),
              "fills": ("fill", "block", 64)}


def _feed(h: Harness, *counters: int, verdict: int = VERDICT_APPROVED) -> None:
    tick = np.zeros(1, TICK)
    tick["seq"], tick["bid"], tick["ask"] = 1, 99.99, 100.01
    tick["bid_size"] = tick["ask_size"] = 500
    h.writer("ticks").write(tick)
    now = time.time_ns()  # the engine checks each order's age against the clock
    rows = np.concatenate([_decision_record(c, verdict=verdict, ts_ns=now) for c in counters])
    h.writer("decisions").write(rows)


@pytest.mark.timeout(30)
def test_engine_when_restarted_and_decisions_replayed_never_fills_twice(
    shm_dir: Path, runtime_dir: Path
) -> None:
    """Decisions seen before a restart are not filled again by the restarted engine."""
    with Harness(shm_dir, runtime_dir, EXEC_RINGS) as h:
        fills = h.reader("fills", 1)
        entry, reads = "engines.execution:ExecutionEngine", ("ticks", "decisions")
        first = h.engine(entry, "execution", reads, ("fills",), publish_executions=False)
        _feed(h, 1, 2)
        poll_until(lambda: fills.available() == 2, first)
        h.stop(first)
        second = h.engine(entry, "execution", reads, ("fills",), publish_executions=False)
        _feed(h, 2, 1, 3)  # 1 and 2 replayed (e.g. risk restarted), 3 is new
        poll_until(lambda: fills.available() >= 3, second)
        for _ in range(20):
            second.poll()
        got = fills.read(16)
        assert [int(i) & 0xFF for i in got["order_id"]] == [1, 2, 3]
        assert second.om.duplicates == 2 and int(got["exec_id"][-1]) == 3
        fills.close()
        h.stop(second)


@pytest.mark.timeout(30)
def test_engine_when_decisions_rejected_writes_no_fill(shm_dir: Path, runtime_dir: Path) -> None:
    """Fail closed: a rejected decision produces no fill record at all."""
    with Harness(shm_dir, runtime_dir, EXEC_RINGS) as h:
        fills = h.reader("fills", 1)
        eng = h.engine("engines.execution:ExecutionEngine", "execution", ("ticks", "decisions"),
                       ("fills",), publish_executions=False)
        _feed(h, 1, 2, verdict=VERDICT_REJECTED)
        _feed(h, 3)
        poll_until(lambda: fills.available() == 1, eng)
        assert int(fills.read(4)["order_id"][0]) & 0xFF == 3
        assert eng.om.ignored_rejected == 2
        fills.close()
        h.stop(eng)


@pytest.mark.timeout(30)
def test_engine_when_ticks_ring_has_board_fills_at_latest_touch(
    shm_dir: Path, runtime_dir: Path
) -> None:
    """Board mode: the venue trades at the decision's symbol's touch as of the decision,
    with no tick read, and the size of that touch bounds the fill."""
    with Harness(shm_dir, runtime_dir, EXEC_RINGS, latest=("ticks",)) as h:
        fills = h.reader("fills", 1)
        eng = h.engine("engines.execution:ExecutionEngine", "execution", ("ticks", "decisions"),
                       ("fills",), publish_executions=False)
        assert eng.latest is not None
        _feed(h, 1)  # touch 99.99 / 100.01 x 500
        poll_until(lambda: fills.available() == 1, eng)
        tick = np.zeros(1, TICK)
        tick["seq"], tick["bid"], tick["ask"], tick["bid_size"], tick["ask_size"] = \
            2, 99.49, 99.51, 500, 3
        h.writer("ticks").write(tick)
        h.writer("decisions").write(_decision_record(2, ts_ns=time.time_ns()))
        poll_until(lambda: fills.available() == 3, eng)  # 3 traded, the IOC rest cancelled
        got = fills.read(4)
        assert got["price"].tolist()[:2] == [100.01, 99.51]
        assert got["qty"].tolist() == [100, 3, 0] and got["leaves_qty"].tolist()[1] == 97
        eng.poll()
        assert eng.ticks.available() == 0
        fills.close()
        h.stop(eng)
