"""Trading statistics for analytics: Sharpe ratio, max drawdown, and the latency histogram.

Pure functions over arrays plus a thin wrapper around an HDR histogram of microseconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from hdrh.histogram import HdrHistogram

LATENCY_MAX_US = 60_000_000  # one minute: anything slower is clamped, not dropped


def sharpe(pnl_curve: Sequence[float] | np.ndarray, periods_per_year: float = 0.0) -> float:
    """Mean over standard deviation of the curve's increments (annualised if asked); 0 if flat."""
    steps = np.diff(np.asarray(pnl_curve, dtype=np.float64))
    if steps.size < 2:
        return 0.0
    sd = float(steps.std(ddof=1))
    if sd == 0.0 or not math.isfinite(sd):
        return 0.0
    ratio = float(steps.mean()) / sd
    return ratio * math.sqrt(periods_per_year) if periods_per_year > 0 else ratio


def max_drawdown(pnl_curve: Sequence[float] | np.ndarray) -> float:
    """The largest drop from a running peak (>= 0, in P&L units)."""
    curve = np.asarray(pnl_curve, dtype=np.float64)
    if curve.size == 0:
        return 0.0
    return float(np.max(np.maximum.accumulate(curve) - curve))


class LatencyHistogram:
    """Tick-to-fill latencies in microseconds, 3 significant digits, up to one minute."""

    def __init__(self) -> None:
        self.hist = HdrHistogram(1, LATENCY_MAX_US, 3)

    def record_ns(self, latencies_ns: np.ndarray | Sequence[int]) -> None:
        for us in np.clip(np.asarray(latencies_ns) // 1000, 1, LATENCY_MAX_US).tolist():
            self.hist.record_value(us)

    @property
    def count(self) -> int:
        return int(self.hist.get_total_count())

    def summary(self) -> dict[str, float]:
        h = self.hist
        return {"count": self.count, "p50_us": h.get_value_at_percentile(50),
                "p99_us": h.get_value_at_percentile(99),
                "p999_us": h.get_value_at_percentile(99.9), "max_us": h.get_max_value()}

    def encode(self) -> str:
        """The compressed HDR payload, so other tools can merge or plot it."""
        return str(self.hist.encode().decode())
