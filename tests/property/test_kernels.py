"""Property tests: the compiled order-path kernels (engines/strategy/_kernel.c,
engines/risk/_kernel.c) against the Python reference paths they mirror, over the same
generated ticks and orders.

The signal kernel must give the same ORDER bytes (or none) and leave the same EMA, position
and cooldown state as MeanReversion.on_row; the check kernel the same DECISION bytes, the
same duplicates and the same projected positions, gross, rate buckets and marks as the
one-order Python checks (which a second property test holds to the vectorised batch path).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engines import compiled as _compiled
from engines.records import COUNTER_MASK, DECISION_SUFFIX_F
from engines.risk._budgets import StrategyBook
from engines.risk._checks import RiskLimits, RiskState, ttl_ns
from engines.risk._dedupe import DecidedIds
from engines.risk.engine import ORDER_CHECKED
from engines.strategy._signal import (
    ORDER_WRITTEN,
    TICK_READ,
    MeanReversion,
    OrderIds,
    SignalParams,
)
from shm.layout import DECISION, ORDER, REASON_STALE, TICK, VERDICT_APPROVED, VERDICT_REJECTED

pytestmark = pytest.mark.skipif(not _compiled.running(), reason="kernels not built")
N_SYMBOLS = 3


def _record(dtype: np.dtype, **fields: Any) -> bytes:
    """One record's bytes, its fields set by name (the rest zero)."""
    r = np.zeros(1, dtype)
    for name, value in fields.items():
        r[name] = value
    return r.tobytes()


def _tick_bytes(seq: int, ts: int, sym: int, bid: float, ask: float, size: int = 10) -> bytes:
    return _record(TICK, seq=seq, ts_ns=ts, symbol_id=sym, bid=bid, ask=ask, bid_size=size,
                   ask_size=size)

_price = st.one_of(st.floats(90.0, 110.0), st.sampled_from([100.0, 100.01, 99.99]),
                   st.sampled_from([0.0, -1.0, math.nan, math.inf]))


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    yield
    _compiled.use_kernels(True)


def _pair(make):  # type: ignore[no-untyped-def]
    """(built with the kernel, built without)."""
    assert _compiled.use_kernels(True)
    compiled = make()
    _compiled.use_kernels(False)
    python = make()
    _compiled.use_kernels(True)
    return compiled, python


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))


_tick = st.tuples(st.integers(0, N_SYMBOLS - 1), _price, st.floats(0.0, 0.5),
                  st.integers(0, 3_000_000_000))


@settings(max_examples=150, deadline=None)
@given(alpha=st.floats(0.01, 1.0), threshold_bps=st.sampled_from([0.0, 0.5, 3.0, 50.0]),
       order_qty=st.integers(1, 500), max_position=st.integers(0, 2_000),
       cooldown_ms=st.sampled_from([0.0, 1.0, 50.0]), ticks=st.lists(_tick, max_size=60))
def test_signal_kernel_when_any_ticks_gives_the_python_orders_and_state(
    alpha: float, threshold_bps: float, order_qty: int, max_position: int, cooldown_ms: float,
    ticks: list[tuple[int, float, float, int]],
) -> None:
    params = SignalParams(strategy_id=7, alpha=alpha, threshold_bps=threshold_bps,
                          order_qty=order_qty, max_position=max_position,
                          cooldown_ms=cooldown_ms)
    compiled, python = _pair(lambda: MeanReversion(N_SYMBOLS, params, OrderIds(7, 41)))
    assert compiled.kernel is not None and python.kernel is None
    ts = 1_700_000_000_000_000_000
    for seq, (sym, bid, spread, dt) in enumerate(ticks, 1):
        ts += dt
        record = _tick_bytes(seq, ts, sym, bid, bid + spread)
        now = ts + 500
        qty = compiled.kernel.on_tick(record, now, compiled.ids.counter)
        if qty:
            compiled.ids.counter += 1
        got = bytes(compiled.order_buf) if qty else None
        order = python.on_row(TICK_READ.struct.unpack(record), now)
        want = None if order is None else ORDER_WRITTEN.struct.pack(*order)
        assert got == want, (seq, ORDER_WRITTEN.struct.unpack(got) if got else None, order)
        assert qty == (0 if order is None else order[ORDER_WRITTEN.qty])
        assert compiled.ids.counter == python.ids.counter
        for name in ("ema", "position", "last_order_ns"):
            assert _same(getattr(compiled, name), getattr(python, name)), name


_order = st.tuples(
    st.integers(0, 5),  # strategy id (4 and 5 past max_strategies)
    st.integers(0, N_SYMBOLS),  # symbol id (N_SYMBOLS: unknown)
    st.sampled_from([1, -1, 0, 2]),  # side
    st.one_of(st.integers(-5, 400), st.sampled_from([99, 100, 101, 299, 300, 301, 10**15])),
    _price,
    st.integers(-3, 3),  # counter step: <= 0 is a duplicate
    st.integers(0, 400_000_000),  # ts step
    st.one_of(st.none(), st.floats(95.0, 105.0), st.just(99.99)),  # the board's bid, or none
    st.booleans(),  # kill switch engaged before this order
    st.integers(0, 3),  # ttl_ms (0: the risk default)
    st.integers(-1_000, 5_000_000),  # the order's age when risk sees it, ns
)


def _order_bytes(order_id: int, strat: int, sym: int, side: int, qty: int, price: float,
           ts: int, ttl_ms: int = 0) -> bytes:
    """An ORDER as strategies send them: limit IOC, carrying its tick's seq and time."""
    return _record(ORDER, order_id=order_id, strategy_id=strat, symbol_id=sym, side=side,
                   type=1, tif=1, ttl_ms=ttl_ms, qty=qty, price=price, ts_ns=ts, origin_seq=1,
                   origin_ts_ns=ts - 10)


def _decide_python(state: RiskState, decided: DecidedIds, record: bytes,
                   quote: tuple[float, float] | None, now: int) -> bytes | None:
    """RiskEngine._decide_small's Python body for one order (the reference)."""
    oid, strat, sym, side, ttl, qty, price, ts = ORDER_CHECKED.struct.unpack(record)
    counter = oid & COUNTER_MASK
    known = strat < decided.size
    if known and counter <= decided.marks[strat]:
        decided.duplicates += 1
        return None
    if quote is not None and sym < state.n_symbols:
        state.mid_v[sym] = (quote[0] + quote[1]) * 0.5
    stale = now - ts > ttl_ns(ttl, state.limits.order_ttl_ms * 1_000_000)
    code = REASON_STALE if stale else state.check_fields(strat, sym, side, qty, price, ts)
    buf = bytearray(DECISION.itemsize)
    buf[: ORDER.itemsize] = record
    DECISION_SUFFIX_F.struct.pack_into(buf, DECISION_SUFFIX_F.start,
                                       VERDICT_REJECTED if code else VERDICT_APPROVED, code, now)
    if known:
        decided.marks[strat] = counter
    return bytes(buf)


@settings(max_examples=300, deadline=None)
@given(max_order_qty=st.sampled_from([100, 300, 10**12]), max_position=st.integers(0, 1_000),
       max_gross=st.integers(0, 2_000), max_orders_per_s=st.integers(1, 6),
       notional=st.sampled_from([10_000.0, 30_000.0]),
       band_bps=st.sampled_from([1.0, 50.0, 1e6]), orders=st.lists(_order, max_size=50),
       budgets=st.one_of(st.none(), st.lists(st.integers(-1, 900), min_size=4, max_size=4)))
def test_check_kernel_when_any_orders_gives_the_python_decisions_and_state(
    max_order_qty: int, max_position: int, max_gross: int, max_orders_per_s: int,
    notional: float, band_bps: float, orders: list[tuple],  # type: ignore[type-arg]
    budgets: list[int] | None,
) -> None:
    """With or without per-strategy budgets (-1: none in force), the kernel decides and
    books what the Python checks do."""
    books = [None, None] if budgets is None else [StrategyBook(N_SYMBOLS, 4) for _ in range(2)]
    for book in books:
        if book is not None:
            book.limit[:] = budgets
    limits = RiskLimits(max_order_qty=max_order_qty, max_notional=notional,
                        max_position=max_position, max_gross=max_gross,
                        price_band_bps=band_bps, max_orders_per_s=max_orders_per_s,
                        max_strategies=4, order_ttl_ms=2)
    states = [RiskState(N_SYMBOLS, limits, budgets=b) for b in books]
    marks = [DecidedIds(np.zeros(3, np.int64)) for _ in range(2)]  # strategy 3 unknown
    out = bytearray(DECISION.itemsize)
    b0 = books[0]
    kernel = _compiled.kernel(_compiled.CHECK).check(  # type: ignore[union-attr]
        states[0].last_mid, states[0].book, states[0]._flags, states[0].rate_bucket,
        states[0].rate_count, marks[0].high_water, out, N_SYMBOLS, limits.max_strategies,
        states[0].band, limits.max_order_qty, limits.max_notional, limits.max_orders_per_s,
        limits.max_position, limits.max_gross, limits.order_ttl_ms * 1_000_000,
        *((None, None, None) if b0 is None else (b0.book, b0.gross, b0.limit)))
    counters = [0] * 6
    ts = 1_700_000_000_000_000_000
    for strat, sym, side, qty, price, step, dt, bid, kill, ttl, age in orders:
        counters[strat] = max(counters[strat] + step, 0)
        ts += dt
        now = ts + age
        for s in states:
            s.killed = kill and step % 2 == 0
        record = _order_bytes((strat << 40) | counters[strat], strat, sym, side, qty, price, ts,
                              ttl)
        quote = None if bid is None else (bid, bid + 0.02)
        board = None if quote is None else (
            lambda s, q=quote, t=ts: _tick_bytes(1, t, s, q[0], q[1], 5))
        code = kernel.decide(record, board, now)
        got = None
        if code >= 0:
            got = bytes(out)
            kernel.commit()
        else:
            marks[0].duplicates += 1
        want = _decide_python(states[1], marks[1], record, quote, now)
        assert got == want
        if want is not None:
            assert code == DECISION_SUFFIX_F.struct.unpack_from(
                want, DECISION_SUFFIX_F.start)[DECISION_SUFFIX_F.reason]
        assert marks[0].duplicates == marks[1].duplicates
        for name in ("book", "rate_bucket", "rate_count", "_flags", "last_mid"):
            assert _same(getattr(states[0], name), getattr(states[1], name)), name
        assert _same(marks[0].high_water, marks[1].high_water)
        if budgets is not None:
            for name in ("book", "gross"):
                assert _same(getattr(books[0], name), getattr(books[1], name)), name


def test_check_kernel_when_decided_but_not_committed_decides_the_order_again() -> None:
    """A crash between decide() and the published decision must not lose the order: the mark
    moves only on commit()."""
    limits = RiskLimits(max_strategies=4)
    state, decided = RiskState(N_SYMBOLS, limits), DecidedIds(np.zeros(4, np.int64))
    out = bytearray(DECISION.itemsize)
    kernel = _compiled.kernel(_compiled.CHECK).check(  # type: ignore[union-attr]
        state.last_mid, state.book, state._flags, state.rate_bucket, state.rate_count,
        decided.high_water, out, N_SYMBOLS, 4, state.band, limits.max_order_qty,
        limits.max_notional, limits.max_orders_per_s, limits.max_position, limits.max_gross,
        10**9, None, None, None)
    record = _order_bytes((1 << 40) | 5, 1, 0, 1, 10, 100.0, 1)
    assert kernel.decide(record, None, 1) >= 0
    assert kernel.decide(record, None, 2) >= 0  # not committed: not a duplicate yet
    kernel.commit()
    assert int(decided.high_water[1]) == 5
    assert kernel.decide(record, None, 3) == -1


def test_kernels_when_given_a_short_record_raise_a_clear_error() -> None:
    params = SignalParams(strategy_id=2)
    signal = MeanReversion(N_SYMBOLS, params, OrderIds(2))
    assert signal.kernel is not None
    with pytest.raises(ValueError, match="TICK record must be 64 bytes, got 10"):
        signal.kernel.on_tick(b"x" * 10, 0, 0)
    with pytest.raises(IndexError, match="symbol_id 9"):
        signal.kernel.on_tick(_tick_bytes(1, 1, 9, 1.0, 1.0), 0, 0)


@settings(max_examples=200, deadline=None)
@given(budgets=st.lists(st.integers(-1, 600), min_size=4, max_size=4),
       orders=st.lists(st.tuples(st.integers(0, 3), st.integers(0, N_SYMBOLS - 1),
                                 st.sampled_from([1, -1]), st.integers(1, 200)),
                       min_size=1, max_size=40))
def test_check_kernel_when_budgets_bind_gives_the_python_decisions_and_books(
    budgets: list[int], orders: list[tuple[int, int, int, int]],
) -> None:
    """Only the budgets can refuse (every other limit is wide): the kernel refuses, reserves
    and books per strategy exactly as the Python checks do, at the budget's edge too."""
    limits = RiskLimits(max_order_qty=10**6, max_notional=1e15, max_position=10**9,
                        max_gross=10**9, price_band_bps=1e6, max_orders_per_s=10**9,
                        max_strategies=4, order_ttl_ms=1_000)
    books = [StrategyBook(N_SYMBOLS, 4) for _ in range(2)]
    for book in books:
        book.limit[:] = budgets
    states = [RiskState(N_SYMBOLS, limits, budgets=b) for b in books]
    for s in states:
        s.last_mid[:] = 100.0
    marks = DecidedIds(np.zeros(4, np.int64))
    out = bytearray(DECISION.itemsize)
    kernel = _compiled.kernel(_compiled.CHECK).check(  # type: ignore[union-attr]
        states[0].last_mid, states[0].book, states[0]._flags, states[0].rate_bucket,
        states[0].rate_count, marks.high_water, out, N_SYMBOLS, 4, states[0].band,
        limits.max_order_qty, limits.max_notional, limits.max_orders_per_s,
        limits.max_position, limits.max_gross, 10**9, books[0].book, books[0].gross,
        books[0].limit)
    ts = 1_700_000_000_000_000_000
    for n, (strat, sym, side, qty) in enumerate(orders, 1):
        code = kernel.decide(_order_bytes((strat << 40) | n, strat, sym, side, qty, 100.0, ts),
                             None, ts)
        kernel.commit()
        assert code == states[1].check_fields(strat, sym, side, qty, 100.0, ts)
        assert _same(books[0].book, books[1].book) and _same(books[0].gross, books[1].gross)
        assert _same(states[0].book, states[1].book)
