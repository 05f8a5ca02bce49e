"""Pre-trade risk checks: each limit alone, and the batch path against the one-order path."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
import zmq
from _poll import poll_until
from hypothesis import given, settings
from hypothesis import strategies as st

from engines.errors import ServiceError
from engines.harness import Harness
from engines.records import DECISION_SUFFIX_F
from engines.risk._checks import (
    RiskLimits,
    RiskState,
    check_batch,
    check_one,
    decide,
    one_order_checker,
    write_decisions,
)
from engines.service import ServiceClient, service_endpoint
from shm.layout import (
    DECISION,
    ORDER,
    REASON_INVALID,
    REASON_KILL_SWITCH,
    REASON_MAX_GROSS,
    REASON_MAX_NOTIONAL,
    REASON_MAX_POSITION,
    REASON_MAX_QTY,
    REASON_NO_MARKET,
    REASON_OK,
    REASON_PRICE_BAND,
    REASON_RATE_LIMIT,
    TICK,
    VERDICT_APPROVED,
    VERDICT_REJECTED,
)

LIMITS = RiskLimits(max_order_qty=100, max_notional=5_000.0, max_position=150, max_gross=250,
                    price_band_bps=100.0, max_orders_per_s=5, max_strategies=4)


def _state(n_symbols: int = 3, limits: RiskLimits = LIMITS, mid: float = 10.0) -> RiskState:
    state = RiskState(n_symbols, limits)
    ticks = np.zeros(n_symbols, TICK)
    ticks["symbol_id"] = np.arange(n_symbols)
    ticks["bid"], ticks["ask"] = mid - 0.01, mid + 0.01
    state.on_ticks(ticks)
    return state


def _orders(rows: list[tuple[int, int, int, int, float, int]]) -> np.ndarray:
    """rows of (strategy_id, symbol_id, side, qty, price, ts_ns)."""
    out = np.zeros(len(rows), ORDER)
    for i, (strat, sym, side, qty, price, ts) in enumerate(rows):
        out[i] = (i + 1, strat, sym, side, 1, 1, 0, 0, qty, price, ts, i, ts)
    return out


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ((0, 0, 1, 10, 10.0, 0), REASON_OK),
        ((0, 0, 1, 0, 10.0, 0), REASON_INVALID),
        ((0, 0, 2, 10, 10.0, 0), REASON_INVALID),
        ((0, 9, 1, 10, 10.0, 0), REASON_INVALID),
        ((9, 0, 1, 10, 10.0, 0), REASON_INVALID),
        ((0, 0, 1, 10, 10.5, 0), REASON_PRICE_BAND),
        ((0, 0, 1, 101, 10.0, 0), REASON_MAX_QTY),
        ((0, 0, 1, 100, 50.5, 0), REASON_PRICE_BAND),
    ],
)
def test_check_one_when_single_limit_breached_names_reason(row: tuple, reason: int) -> None:
    """A lone order breaching one limit is rejected with that limit's reason code."""
    verdict, got = check_one(_state(), _orders([row])[0])
    assert got == reason
    assert verdict == (VERDICT_APPROVED if reason == REASON_OK else VERDICT_REJECTED)


def test_check_one_when_notional_over_limit_rejects() -> None:
    """qty * price over max_notional is refused even within qty and band limits."""
    state = _state(mid=60.0)
    assert check_one(state, _orders([(0, 0, 1, 90, 60.0, 0)])[0])[1] == REASON_MAX_NOTIONAL


def test_check_one_when_no_tick_seen_rejects_no_market() -> None:
    """Without a last tick for the symbol there is no reference price: rejected."""
    state = RiskState(2, LIMITS)
    assert check_one(state, _orders([(0, 1, 1, 1, 10.0, 0)])[0])[1] == REASON_NO_MARKET


def test_check_batch_when_kill_switch_engaged_rejects_everything() -> None:
    """An engaged kill switch rejects every valid order of a batch."""
    state = _state()
    state.killed = True
    verdict, reason = check_batch(state, _orders([(0, 0, 1, 1, 10.0, 0)] * 4))
    assert (verdict == VERDICT_REJECTED).all() and (reason == REASON_KILL_SWITCH).all()


def test_check_batch_when_rate_exceeded_rejects_rest_of_second() -> None:
    """Past max_orders_per_s in one second the rest is rate limited; the next second resets."""
    rows = [(1, 0, 1 if i % 2 else -1, 1, 10.0, 10**9) for i in range(7)]
    rows.append((1, 0, 1, 1, 10.0, 2 * 10**9))
    _, reason = check_batch(_state(), _orders(rows))
    assert list(reason) == [0] * 5 + [REASON_RATE_LIMIT] * 2 + [0]


def test_check_batch_when_position_limit_reached_rejects_then_allows_reducing() -> None:
    """Orders past max_position are refused; a later reducing order is still approved."""
    rows = [(0, 0, 1, 100, 10.0, 0), (0, 0, 1, 100, 10.0, 0), (0, 0, -1, 50, 10.0, 0)]
    _, reason = check_batch(_state(), _orders(rows))
    assert list(reason) == [REASON_OK, REASON_MAX_POSITION, REASON_OK]


def test_check_batch_when_gross_limit_reached_rejects() -> None:
    """Sum of |position| over symbols is capped by max_gross."""
    rows = [(0, 0, 1, 100, 10.0, 0), (0, 1, -1, 100, 10.0, 0), (0, 2, 1, 100, 10.0, 0)]
    state = _state()
    _, reason = check_batch(state, _orders(rows))
    assert list(reason) == [REASON_OK, REASON_OK, REASON_MAX_GROSS]
    assert state.gross == 200 and list(state.open_buy) == [100, 0, 0]
    assert list(state.open_sell) == [0, 100, 0] and list(state.position) == [0, 0, 0]


def test_write_decisions_when_batch_decided_copies_orders_verbatim() -> None:
    """Decisions carry the order bytes unchanged plus verdict, reason and decision time."""
    orders = _orders([(0, 0, 1, 10, 10.0, 5), (0, 0, 1, 101, 10.0, 6)])
    verdict, reason = check_batch(_state(), orders)
    out = np.zeros(2, DECISION)
    out.view(np.uint8)[:] = 0xFF  # dirty buffer, as a reused ring slot would be
    write_decisions(orders, verdict, reason, out, 123)
    for name in ORDER.names:
        assert (out[name] == orders[name]).all()
    assert list(out["reason"]) == [REASON_OK, REASON_MAX_QTY]
    assert (out["decided_ts_ns"] == 123).all() and (out["_pad4"] == 0).all()


_order_rows = st.tuples(
    st.integers(0, 5),  # strategy (4 and 5 invalid)
    st.integers(0, 3),  # symbol (3 invalid)
    st.sampled_from([1, -1, 1, -1, 0]),
    st.integers(-5, 130),
    st.sampled_from([10.0, 10.05, 9.9, 10.2, 0.0, float("nan"), 55.0]),
    st.integers(0, 3).map(lambda s: s * 10**9 + 1),
)


@settings(max_examples=300, deadline=None)
@given(batches=st.lists(st.lists(_order_rows, max_size=60), min_size=1, max_size=4),
       killed_at=st.integers(-1, 4), small=st.sampled_from([0, 0, 16]))
def test_check_batch_when_random_orders_matches_one_order_path(
    batches: list, killed_at: int, small: int
) -> None:
    """Batch and one-order paths give identical verdicts and end states over any batches."""
    limits = RiskLimits(max_order_qty=100, max_notional=1_050.0, max_position=150,
                        max_gross=250, price_band_bps=100.0, max_orders_per_s=7,
                        max_strategies=4)
    fast, slow = _state(limits=limits), _state(limits=limits)
    for i, rows in enumerate(batches):
        fast.killed = slow.killed = i == killed_at
        orders = _orders(rows)
        verdict, reason = check_batch(fast, orders, small=small)
        expected = [check_one(slow, o) for o in orders]
        assert list(zip(verdict.tolist(), reason.tolist(), strict=True)) == expected
        assert fast.book.tolist() == slow.book.tolist() and fast.gross == slow.gross
        assert fast.rate_count.tolist() == slow.rate_count.tolist()


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(_order_rows, max_size=80), killed_at=st.integers(-1, 80))
def test_one_order_checker_when_random_orders_matches_vectorised_batches_of_one(
    rows: list, killed_at: int
) -> None:
    """The engine's one-order closure gives the vectorised path's reasons and end state,
    order by order (each order a batch of one through check_batch(small=0))."""
    fast, slow = _state(), _state()
    check = one_order_checker(fast)
    orders = _orders(rows)
    for i in range(orders.shape[0]):
        fast.killed = slow.killed = i >= killed_at >= 0
        reason = check(*(orders[i][f].item() for f in (
            "strategy_id", "symbol_id", "side", "qty", "price", "ts_ns")))
        assert reason == check_batch(slow, orders[i : i + 1], small=0)[1][0]
        assert fast.book.tolist() == slow.book.tolist() and fast.gross == slow.gross
        assert fast.rate_count.tolist() == slow.rate_count.tolist()
        assert fast.rate_bucket.tolist() == slow.rate_bucket.tolist()


def test_decide_when_small_or_vectorised_matches_one_record_encoding() -> None:
    """decide() (one by one for a small batch, vectorised for a large one) writes the same
    bytes as the one-record path of the engine: order bytes + DECISION_SUFFIX_F."""
    rows = [(1, i % 3, 1 if i % 3 else -1, 40 + i, 10.0 + (i % 4) * 0.03, i * 10**9)
            for i in range(12)]
    orders = _orders(rows)
    out_small, out_vector = np.zeros(12, DECISION), np.zeros(12, DECISION)
    out_small.view(np.uint8)[:] = 0xAB  # dirty slots, as a reused ring would have
    reasons_small = decide(_state(), orders, out_small, 77).tolist()
    verdict, reason = check_batch(_state(), orders, small=0)
    write_decisions(orders, verdict, reason, out_vector, 77)
    assert reasons_small == reason.tolist()
    assert set(reasons_small) == {REASON_OK, REASON_MAX_GROSS}
    for i, code in enumerate(reasons_small):
        one = bytearray(DECISION.itemsize)
        one[: ORDER.itemsize] = orders[i : i + 1].tobytes()
        DECISION_SUFFIX_F.struct.pack_into(one, DECISION_SUFFIX_F.start,
                                           VERDICT_REJECTED if code else VERDICT_APPROVED, code, 77)
        assert bytes(one) == out_small[i : i + 1].tobytes() == out_vector[i : i + 1].tobytes()


# -- the engine, over real rings and sockets ---------------------------------------------------

RISK_RINGS = {"ticks": ("tick", "overwrite", 64), "orders": ("order", "block", 64),
              "decisions": ("decision", "block", 64)}


def _send_order(h: Harness, counter: int, writers: dict[str, Any] | None = None) -> None:
    """A tick and an order after it; `writers` (ring -> writer) keeps them attached."""
    ticks, orders = (writers["ticks"], writers["orders"]) if writers else \
        (h.writer("ticks"), h.writer("orders"))
    tick = np.zeros(1, TICK)
    tick["seq"], tick["bid"], tick["ask"] = counter, 9.99, 10.01
    ticks.write(tick)
    order = _orders([(1, 0, 1, 10, 10.0, time.time_ns())])
    order["order_id"] = (1 << 40) | counter
    orders.write(order)


@pytest.mark.timeout(30)
def test_kill_switch_when_requested_over_service_rejects_and_alerts(
    shm_dir: Path, runtime_dir: Path
) -> None:
    """risk.kill_switch engages through the service; later orders are refused; alert sent."""
    zctx = zmq.Context()
    alerts = zctx.socket(zmq.XSUB)  # where the engine's publisher connects (the proxy's side)
    alerts.setsockopt(zmq.LINGER, 0)
    alerts.bind(f"ipc://{runtime_dir}/h-bus-in.sock")
    try:
        with Harness(shm_dir, runtime_dir, RISK_RINGS) as h:
            eng = h.engine("engines.risk:RiskEngine", "risk", ("ticks", "orders"),
                           ("decisions",))
            out = h.reader("decisions", 1)
            _send_order(h, 1)
            # An XSUB subscription reaches only peers already connected: repeat it meanwhile,
            # ten times at least (the order can be decided before the publisher connects).
            sent = [0]

            def subscribed() -> bool:
                alerts.send(b"\x01risk.alerts.")
                sent[0] += 1
                time.sleep(0.05)
                return sent[0] >= 10 and out.available() == 1

            poll_until(subscribed, eng)
            reply: dict[str, Any] = {}
            client = ServiceClient(service_endpoint(runtime_dir, "risk"), timeout_ms=5_000)
            worker = threading.Thread(target=lambda: reply.update(
                client.call("risk.kill_switch", engage=True, why="test")))
            worker.start()
            poll_until(lambda: not worker.is_alive(), eng)
            client.close()
            _send_order(h, 2)
            poll_until(lambda: out.available() == 2, eng)
            decided = out.read(2)
            assert decided["reason"].tolist() == [REASON_OK, REASON_KILL_SWITCH]
            assert reply == {"killed": True}
            assert alerts.poll(5_000), "no kill switch alert on the bus"
            topic, _payload = alerts.recv_multipart()
            assert topic == b"risk.alerts.kill_switch"
            maybe = _call(runtime_dir, eng, engage="maybe")
            assert isinstance(maybe, ServiceError) and maybe.code == "BAD_REQUEST"
            assert "engage: not a valid boolean value: 'maybe'" in str(maybe)
            assert _call(runtime_dir, eng, engage="no") == {"killed": False}
            out.close()
            h.stop(eng)
    finally:
        alerts.close(linger=0)
        zctx.term()


@pytest.mark.timeout(60)
def test_kill_switch_when_orders_never_stop_is_served_between_busy_polls(
    shm_dir: Path, runtime_dir: Path
) -> None:
    """A runaway strategy keeps risk busy on every poll (an order waits at each one): the
    operator's kill switch is still served, and orders decided after it are refused."""
    with Harness(shm_dir, runtime_dir, RISK_RINGS) as h:
        eng = h.engine("engines.risk:RiskEngine", "risk", ("ticks", "orders"), ("decisions",))
        out = h.reader("decisions", 1)
        # the rings' other reader slots (execution's, a journal's) kept up: never full
        sent, execution = h.reader("orders", 1), h.reader("decisions", 0)
        writers = {ring: h.writer(ring) for ring in ("ticks", "orders")}
        counter, reply, busy_polls = 0, [], 0
        with ServiceClient(service_endpoint(runtime_dir, "risk"), timeout_ms=20_000) as client:
            worker = threading.Thread(target=lambda: reply.append(
                client.call("risk.kill_switch", engage=True, why="runaway")))
            worker.start()
            deadline = time.monotonic() + 30
            while worker.is_alive() and time.monotonic() < deadline:
                counter += 1
                _send_order(h, counter, writers)
                assert h.poll(eng) > 0  # never an idle poll: the old code served it only then
                busy_polls += 1
                out.advance(out.available())
                sent.advance(sent.available())
                execution.advance(execution.available())
            worker.join(5)
        assert reply == [{"killed": True}], f"not served in {busy_polls} busy polls"
        _send_order(h, counter + 1)
        poll_until(lambda: out.available() == 1, eng)
        assert out.read(1)["reason"].tolist() == [REASON_KILL_SWITCH]
        for ring in (out, sent, execution, *writers.values()):
            ring.close()
        h.stop(eng)


def _call(runtime_dir: Path, eng: Any, **args: Any) -> Any:
    """risk.kill_switch from a thread while the engine is polled; its result or error."""
    found: list[Any] = []

    def call() -> None:
        with ServiceClient(service_endpoint(runtime_dir, "risk"), timeout_ms=5_000) as client:
            try:
                found.append(client.call("risk.kill_switch", **args))
            except ServiceError as exc:
                found.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    poll_until(lambda: not worker.is_alive(), eng)
    return found[0]


@pytest.mark.timeout(30)
def test_drawdown_when_pnl_falls_past_limit_engages_kill_switch(
    shm_dir: Path, runtime_dir: Path
) -> None:
    """A P&L drop from its peak beyond max_drawdown stops all trading."""
    zctx = zmq.Context()
    pnl = zctx.socket(zmq.PUB)  # stands in for the proxy's XPUB side
    pnl.setsockopt(zmq.LINGER, 0)
    pnl.bind(f"ipc://{runtime_dir}/h-bus-out.sock")
    try:
        with Harness(shm_dir, runtime_dir, RISK_RINGS) as h:
            eng = h.engine("engines.risk:RiskEngine", "risk", ("ticks", "orders"),
                           ("decisions",), max_drawdown=500.0)
            for value in (100.0, 900.0, 300.0):  # 600 under the 900 peak
                poll_until(lambda v=value: _publish(pnl, v) and eng.pnl_peak >= min(v, 900.0),
                           eng)
            poll_until(lambda: eng.state.killed, eng)
            h.stop(eng)
    finally:
        pnl.close(linger=0)
        zctx.term()


def _publish(sock: Any, pnl: float) -> bool:
    sock.send_multipart([b"trading.positions.all", msgpack.packb({"pnl": pnl})])
    return True


@pytest.mark.timeout(30)
def test_engine_when_restarted_keeps_positions_and_kill_switch(
    shm_dir: Path, runtime_dir: Path
) -> None:
    """A restarted risk engine keeps its projected positions and stays killed."""
    with Harness(shm_dir, runtime_dir, RISK_RINGS) as h:
        out = h.reader("decisions", 1)
        first = h.engine("engines.risk:RiskEngine", "risk", ("ticks", "orders"), ("decisions",))
        _send_order(h, 1)
        poll_until(lambda: out.available() == 1, first)
        first._kill_switch(engage=True, why="test")
        h.stop(first)
        second = h.engine("engines.risk:RiskEngine", "risk", ("ticks", "orders"),
                          ("decisions",))
        assert second.state.killed and second.state.position.tolist() == [10, 0]
        assert second.state.gross == 10
        out.close()
        h.stop(second)


@pytest.mark.timeout(30)
def test_engine_when_orders_reread_after_crash_decides_each_once(
    shm_dir: Path, runtime_dir: Path
) -> None:
    """Orders decided before a crash (cursor not committed) get no second decision."""
    with Harness(shm_dir, runtime_dir, RISK_RINGS) as h:
        out = h.reader("decisions", 1)
        first = h.engine("engines.risk:RiskEngine", "risk", ("ticks", "orders"), ("decisions",))
        _send_order(h, 1)
        poll_until(lambda: out.available() == 1, first)
        # a crash between publishing decisions and committing the orders cursor
        first.decided.high_water[1] = 2
        h.stop(first)
        second = h.engine("engines.risk:RiskEngine", "risk", ("ticks", "orders"),
                          ("decisions",))
        h.writer("orders").write(_reordered(2, 3))
        poll_until(lambda: out.available() == 2, second)
        for _ in range(10):
            second.poll()
        ids = out.read(8)["order_id"].tolist()
        assert [i & 0xFF for i in ids] == [1, 3] and second.decided.duplicates == 1
        out.close()
        h.stop(second)


def _reordered(*counters: int) -> np.ndarray:
    """Orders of strategy 1 with these counters (2 is replayed, 3 is new)."""
    orders = _orders([(1, 0, 1, 5, 10.0, 0)] * len(counters))
    orders["order_id"] = [(1 << 40) | c for c in counters]
    return orders


@pytest.mark.timeout(30)
def test_engine_when_ticks_ring_has_board_checks_each_order_against_latest_quote(
    shm_dir: Path, runtime_dir: Path
) -> None:
    """Board mode: no tick is read, yet each order meets its symbol's quote as of its check
    (one order inside the band, then the market moves and the same price is outside)."""
    with Harness(shm_dir, runtime_dir, RISK_RINGS, latest=("ticks",)) as h:
        out = h.reader("decisions", 1)
        eng = h.engine("engines.risk:RiskEngine", "risk", ("ticks", "orders"), ("decisions",))
        assert eng.latest is not None
        _send_order(h, 1)  # mid 10.00, order at 10.00
        poll_until(lambda: out.available() == 1, eng)
        moved = np.zeros(1, TICK)
        moved["seq"], moved["bid"], moved["ask"] = 2, 10.99, 11.01  # mid 11: 10.00 is 9% away
        h.writer("ticks").write(moved)
        order = _orders([(1, 0, 1, 10, 10.0, time.time_ns())])
        order["order_id"] = (1 << 40) | 2
        h.writer("orders").write(order)
        poll_until(lambda: out.available() == 2, eng)
        got = out.read(4)
        assert got["verdict"].tolist() == [VERDICT_APPROVED, VERDICT_REJECTED]
        assert got["reason"].tolist() == [REASON_OK, REASON_PRICE_BAND]
        eng.poll()  # an idle poll moves the tick cursor past what the board made unneeded
        assert eng.ticks.available() == 0 and eng.ticks.lost == 0
        out.close()
        h.stop(eng)


@pytest.mark.timeout(30)
def test_engine_when_board_wider_than_symbol_table_rejects_unknown_symbol_invalid(
    shm_dir: Path, runtime_dir: Path
) -> None:
    """A board with more slots than risk's symbols (a mismatched topology): an order for a
    symbol past risk's table is rejected INVALID, never an IndexError in the engine."""
    with Harness(shm_dir, runtime_dir, RISK_RINGS, latest=("ticks",), latest_slots=4) as h:
        out = h.reader("decisions", 1)
        eng = h.engine("engines.risk:RiskEngine", "risk", ("ticks", "orders"), ("decisions",))
        tick = np.zeros(1, TICK)
        tick["seq"], tick["symbol_id"], tick["bid"], tick["ask"] = 1, 3, 9.99, 10.01
        h.writer("ticks").write(tick)
        order = _orders([(1, 3, 1, 10, 10.0, time.time_ns())])
        order["order_id"] = (1 << 40) | 1
        h.writer("orders").write(order)
        poll_until(lambda: out.available() == 1, eng)
        assert out.read(4)["reason"].tolist() == [REASON_INVALID]
        out.close()
        h.stop(eng)


@pytest.mark.parametrize("n", [3, 40])  # one by one, and vectorised
def test_decide_when_orders_past_their_ttl_rejects_them_stale_and_keeps_state(n: int) -> None:
    """An order older than its ttl_ms (or the default for 0) is REASON_STALE and changes no
    position or rate bucket; the young ones are checked as usual."""
    from engines.risk._checks import decide
    from shm.layout import REASON_STALE

    state = _state()
    now = 10 * 10**9
    orders = _orders([(0, 0, 1, 1, 10.0, now - 2_000_000)] * n)
    orders["ttl_ms"] = 1
    orders["ttl_ms"][0] = 5  # 2 ms old, 5 ms to live: fresh
    out = np.zeros(n, DECISION)
    reason = decide(state, orders, out, now)
    assert reason.tolist() == [REASON_OK] + [REASON_STALE] * (n - 1)
    assert int(state.open_buy[0]) == 1 and int(state.rate_count[0]) == 1
