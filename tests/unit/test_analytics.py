"""Trading statistics: Sharpe, drawdown, the latency histogram."""

from __future__ import annotations

import pytest

from engines.analytics._stats import LatencyHistogram, max_drawdown, sharpe
from engines.analytics.engine import TradeStats
from shm.layout import FILL_CANCELLED, FILL_FILLED, FILL_PARTIAL


def test_max_drawdown_when_curve_dips_returns_largest_peak_to_trough() -> None:
    """The deepest fall from a running peak, not the total range."""
    assert max_drawdown([0, 3, 1, 4, -2, 5]) == 6.0
    assert max_drawdown([]) == 0.0


def test_sharpe_when_flat_or_short_curve_is_zero() -> None:
    """No variance or too few points gives 0 rather than a division error."""
    assert sharpe([1, 1, 1, 1]) == 0.0 and sharpe([1.0]) == 0.0


def test_sharpe_when_annualised_scales_by_root_periods() -> None:
    """Annualising multiplies the per-period ratio by sqrt(periods)."""
    curve = [0, 1, 3, 4, 6]
    assert sharpe(curve, periods_per_year=4) == pytest.approx(2 * sharpe(curve))


def test_latency_histogram_when_recorded_reports_percentiles_in_us() -> None:
    """Nanosecond samples come out as microsecond percentiles."""
    hist = LatencyHistogram()
    hist.record_ns([10_000] * 99 + [2_000_000])
    s = hist.summary()
    assert s["count"] == 100 and s["p50_us"] == 10 and s["max_us"] == pytest.approx(2_000, 1e-2)


def test_trade_stats_when_executions_seen_reports_rates_slippage_latency() -> None:
    """Fill rate counts full fills over finished orders; latency comes from carried stamps."""
    stats = TradeStats(curve_points=3)
    stats.on_executions({
        "order_id": [1, 2, 2], "status": [FILL_FILLED, FILL_PARTIAL, FILL_CANCELLED],
        "qty": [10, 5, 0], "price": [100.0, 99.0, 0.0], "order_price": [100.0, 100.0, 100.0],
        "side": [1, -1, -1], "ts_ns": [50_000, 80_000, 80_000], "origin_ts_ns": [0, 0, 0],
    })
    for pnl in (1.0, 3.0, 2.0, 5.0):
        stats.on_pnl(pnl)
    s = stats.summary()
    assert s["fill_rate"] == 0.5 and s["fills"] == 2 and s["filled_qty"] == 15
    assert s["slippage_bps"] == pytest.approx((0 + 100.0 * 5) / 15)  # sold 1% under the limit
    assert s["tick_to_fill_us"]["count"] == 2 and s["tick_to_fill_us"]["max_us"] == 80
    assert stats.curve == [3.0, 2.0, 5.0] and s["pnl"] == 5.0 and s["max_drawdown"] == 1.0
