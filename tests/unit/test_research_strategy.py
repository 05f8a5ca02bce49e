"""The research strategy's decisions (engines.strategy.Blend): one per symbol and bar once its
features and its signal are in, the side of the score's sign, sized and capped like the
shipped strategy, nothing on a missing or NaN prediction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engines.strategy import Blend, BlendParams, OrderIds
from engines.strategy._signal import ORDER_WRITTEN
from shm.layout import FEATURE, SIDE_BUY, SIDE_SELL, SIGNAL

pytestmark = pytest.mark.timeout(30)
BAR = 1_000_000_000


def _touch(sym: int, ts: int) -> tuple[float, float]:
    return (100.0, 100.02)


def _feature(sym: int, bar: int, momentum: float = 0.0, seq: int = 7) -> np.ndarray:
    rec = np.zeros(1, FEATURE)
    rec["symbol_id"], rec["bar_ns"], rec["origin_seq"] = sym, bar, seq
    rec["origin_ts_ns"] = bar + BAR
    rec["momentum"], rec["mean_reversion"], rec["ofi"] = momentum, math.nan, math.nan
    return rec


def _signal(sym: int, bar: int, prediction: float, seq: int = 9) -> np.ndarray:
    rec = np.zeros(1, SIGNAL)
    rec["symbol_id"], rec["bar_ns"], rec["prediction"] = sym, bar, prediction
    rec["origin_seq"], rec["origin_ts_ns"], rec["model_version"] = seq, bar + BAR, 1
    return rec


def _blend(use_signals: bool = True, **kw: float) -> Blend:
    return Blend(2, BlendParams(**kw), OrderIds(2), use_signals)  # type: ignore[arg-type]


@pytest.mark.parametrize(("prediction", "side", "price"),
                         [(5e-4, SIDE_BUY, 100.02), (-5e-4, SIDE_SELL, 100.0)])
def test_blend_when_features_then_signal_arrive_orders_on_the_prediction_side(
        prediction: float, side: int, price: float) -> None:
    """The signal completes the bar: one IOC order, the prediction's side, at the touch,
    naming the signal's origin tick; the same bar again decides nothing."""
    blend, out = _blend(), []
    blend.on_features(_feature(1, BAR, momentum=-1.0), _touch, 5, out)
    assert out == []
    blend.on_signals(_signal(1, BAR, prediction), _touch, 6, out)
    assert len(out) == 1
    order = out[0]
    assert order[ORDER_WRITTEN.side] == side and order[ORDER_WRITTEN.price] == price
    assert order[ORDER_WRITTEN.symbol_id] == 1 and order[ORDER_WRITTEN.origin_seq] == 9
    assert order[ORDER_WRITTEN.order_id] == (2 << 40) + 1
    blend.on_signals(_signal(1, BAR, prediction), _touch, 7, out)
    assert len(out) == 1 and blend.position[1] == side * 100


def test_blend_when_the_signal_is_of_another_bar_or_nan_decides_nothing() -> None:
    """A signal of another bar waits for its own features; a NaN prediction sends nothing."""
    blend, out = _blend(), []
    blend.on_signals(_signal(0, BAR, 1e-3), _touch, 1, out)
    blend.on_features(_feature(0, 2 * BAR), _touch, 2, out)
    assert out == []
    blend.on_signals(_signal(0, 2 * BAR, math.nan), _touch, 3, out)
    assert out == [] and blend.decisions == 1


def test_blend_without_signals_decides_on_the_factors_alone() -> None:
    """No signals ring: momentum above the threshold buys, below minus it sells, within
    it nothing."""
    blend, out = _blend(use_signals=False), []
    blend.on_features(np.concatenate([_feature(0, BAR, 2.0), _feature(1, BAR, -2.0)]),
                      _touch, 1, out)
    blend.on_features(_feature(0, 2 * BAR, 0.1), _touch, 2, out)
    assert [o[ORDER_WRITTEN.side] for o in out] == [SIDE_BUY, SIDE_SELL]


def test_blend_when_the_position_is_at_its_cap_sends_no_more_on_that_side() -> None:
    """Sizes shrink as the position nears max_position and never pass it."""
    blend, out = _blend(use_signals=False, max_position=250), []
    for k in range(1, 40):
        blend.on_features(_feature(0, k * BAR, 5.0), _touch, k, out)
    assert 0 < blend.position[0] <= 250
    assert sum(o[ORDER_WRITTEN.qty] for o in out) == blend.position[0] == 250


def test_blend_when_the_features_run_bars_ahead_still_pairs_each_signal_with_its_bar() -> None:
    """Features of bars 1..3 before any signal: each signal then completes its own bar (the
    side of each bar's own prediction); a late signal of a bar older than one decided is
    ignored."""
    blend, out = _blend(), []
    for k in (1, 2, 3):
        blend.on_features(_feature(0, k * BAR), _touch, k, out)
    blend.on_signals(_signal(0, 1 * BAR, 1e-3), _touch, 4, out)
    blend.on_signals(_signal(0, 3 * BAR, -1e-3), _touch, 5, out)
    blend.on_signals(_signal(0, 2 * BAR, 1e-3), _touch, 6, out)  # older than bar 3: too late
    assert [o[ORDER_WRITTEN.side] for o in out] == [SIDE_BUY, SIDE_SELL]
    assert blend.decisions == 2
