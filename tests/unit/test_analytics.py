"""Trading statistics: Sharpe, drawdown, the latency histogram."""

from __future__ import annotations

import pytest

from engines._stats import LatencyHistogram, max_drawdown, sharpe


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
