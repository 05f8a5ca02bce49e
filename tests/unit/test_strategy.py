"""The strategy's signal and order ids: mean reversion, sizing, uniqueness across restarts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engines.harness import Harness
from engines.strategy._signal import MeanReversion, OrderIds, SignalParams
from shm.layout import ORDER, SIDE_BUY, SIDE_SELL, TICK


def _ticks(mids: list[float], sym: int = 0, ts0: int = 0, step_ns: int = 10**9) -> np.ndarray:
    t = np.zeros(len(mids), TICK)
    t["seq"] = np.arange(1, len(mids) + 1)
    t["ts_ns"] = ts0 + np.arange(len(mids)) * step_ns
    t["symbol_id"] = sym
    t["bid"] = np.array(mids) - 0.01
    t["ask"] = np.array(mids) + 0.01
    return t


def _strategy(**kw: float) -> MeanReversion:
    params = SignalParams(strategy_id=3, threshold_bps=10.0, cooldown_ms=0.0, **kw)
    return MeanReversion(2, params, OrderIds(3))


def test_on_ticks_when_mid_drops_below_ema_buys_at_the_ask() -> None:
    """A mid well under its EMA sends a marketable buy carrying the tick's seq and time."""
    strat, out = _strategy(), np.zeros(8, ORDER)
    assert strat.on_ticks(_ticks([100.0]), out, 1) == 0  # first batch only seeds the EMA
    tick = _ticks([99.0], ts0=5)
    tick["seq"] = 42
    assert strat.on_ticks(tick, out, 7) == 1
    o = out[0]
    assert o["side"] == SIDE_BUY and o["price"] == pytest.approx(99.01)
    assert o["origin_seq"] == 42 and o["origin_ts_ns"] == 5 and o["ts_ns"] == 7
    assert o["order_id"] == (3 << 40) | 1 and o["strategy_id"] == 3


def test_on_ticks_when_mid_rises_above_ema_sells_at_the_bid() -> None:
    """A mid well over its EMA sends a sell at the bid."""
    strat, out = _strategy(), np.zeros(8, ORDER)
    strat.on_ticks(_ticks([100.0]), out, 1)
    assert strat.on_ticks(_ticks([101.0]), out, 2) == 1
    assert out[0]["side"] == SIDE_SELL and out[0]["price"] == pytest.approx(100.99)


def test_on_ticks_when_many_candidates_sends_one_order_per_symbol() -> None:
    """A batch yields at most one order per symbol."""
    strat, out = _strategy(), np.zeros(8, ORDER)
    strat.on_ticks(np.concatenate([_ticks([100.0]), _ticks([50.0], sym=1)]), out, 1)
    batch = np.concatenate([_ticks([99.0, 98.0, 97.0]), _ticks([49.0, 48.0], sym=1)])
    n = strat.on_ticks(batch, out, 2)
    assert n == 2 and sorted(out["symbol_id"][:n].tolist()) == [0, 1]


def test_on_ticks_when_position_near_limit_shrinks_and_caps_size() -> None:
    """Orders never take the strategy's own position beyond max_position."""
    strat, out = _strategy(order_qty=400, max_position=1_000), np.zeros(8, ORDER)
    strat.on_ticks(_ticks([100.0]), out, 1)
    sent = 0
    for i in range(20):
        strat.ema[0] = 100.0  # keep the deviation alive
        n = strat.on_ticks(_ticks([99.0], ts0=(i + 1) * 10**9), out, 2)
        sent += int(out["qty"][:n].sum())
    assert sent == 1_000 and strat.position[0] == 1_000


def test_on_ticks_when_within_cooldown_sends_nothing() -> None:
    """A second signal inside the cooldown window is suppressed."""
    params = SignalParams(strategy_id=1, threshold_bps=10.0, cooldown_ms=100.0)
    strat, out = MeanReversion(1, params, OrderIds(1)), np.zeros(4, ORDER)
    strat.on_ticks(_ticks([100.0]), out, 0)
    assert strat.on_ticks(_ticks([99.0], ts0=10**9), out, 0) == 1
    strat.ema[0] = 100.0
    assert strat.on_ticks(_ticks([99.0], ts0=10**9 + 50_000_000), out, 0) == 0


def test_order_ids_when_resumed_after_restart_never_repeat() -> None:
    """A counter resumed from the last published id continues past it."""
    first = OrderIds(5)
    ids = first.take(3).tolist()
    resumed = OrderIds(5, last_counter=OrderIds.counter_of(ids[-1]))
    assert resumed.take(2).tolist() == [ids[-1] + 1, ids[-1] + 2]
    assert all(i >> 40 == 5 for i in ids)


def test_order_ids_when_strategy_id_out_of_range_raises() -> None:
    """Strategy id 0 or one that does not fit in 24 bits is refused."""
    with pytest.raises(ValueError, match="strategy_id 0"):
        OrderIds(0)


@settings(max_examples=150, deadline=None)
@given(batches=st.lists(st.lists(st.tuples(st.integers(0, 2), st.floats(98.0, 102.0)),
                                 min_size=1, max_size=8), min_size=1, max_size=12))
def test_on_ticks_when_small_batches_match_vectorised_path(batches: list) -> None:
    """The one-tick-at-a-time path sends exactly the orders of the vectorised path."""
    params = SignalParams(strategy_id=2, threshold_bps=5.0, cooldown_ms=0.0, order_qty=70,
                          max_position=200)
    fast, slow = (MeanReversion(3, params, OrderIds(2)) for _ in range(2))
    out_a, out_b = np.zeros(3, ORDER), np.zeros(3, ORDER)
    for i, rows in enumerate(batches):
        ticks = np.concatenate([_ticks([mid], sym=s, ts0=i * 10**9) for s, mid in rows])
        n_small = fast._on_ticks_small(ticks, out_a, 9)
        n_vector = _vector(slow, ticks, out_b)
        assert n_small == n_vector
        assert out_a[:n_small].tobytes() == out_b[:n_vector].tobytes()
        assert np.array_equal(fast.ema, slow.ema, equal_nan=True)


def _vector(strat: MeanReversion, ticks: np.ndarray, out: np.ndarray) -> int:
    """Force the vectorised path whatever the batch size."""
    import engines.strategy._signal as signal_module

    saved, signal_module.SMALL_BATCH = signal_module.SMALL_BATCH, 0
    try:
        return strat.on_ticks(ticks, out, 9)
    finally:
        signal_module.SMALL_BATCH = saved


@pytest.mark.timeout(30)
def test_engine_when_restarted_continues_order_ids_past_published_ones(
    shm_dir: Path, runtime_dir: Path
) -> None:
    """A restarted strategy resumes its id counter at the orders ring's cursor: no reuse."""
    rings = {"ticks": ("tick", "overwrite", 256), "orders": ("order", "block", 256)}
    params = {"strategy_id": 4, "threshold_bps": 0.0, "cooldown_ms": 0.0}
    with Harness(shm_dir, runtime_dir, rings) as h:
        orders = h.reader("orders", 1)
        ticks = h.writer("ticks")
        seen: list[int] = []
        for life in range(2):
            eng = h.engine("engines.strategy:StrategyEngine", "strategy", ("ticks",),
                           ("orders",), **params)
            for i in range(5):
                ticks.write(_ticks([100.0 + (i % 2)], ts0=(life * 10 + i) * 10**9))
                eng.poll()
            batch = orders.read(64)
            seen += batch["order_id"].tolist()
            orders.advance(batch.shape[0])
            h.stop(eng)
        orders.close()
    assert len(seen) >= 6 and len(set(seen)) == len(seen)
    assert [i & ((1 << 40) - 1) for i in seen] == list(range(1, len(seen) + 1))
    assert all(i >> 40 == 4 for i in seen)
