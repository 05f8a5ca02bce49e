"""A run's figures from its fills and equity curve: P&L, Sharpe, drawdown, turnover."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engines.backtest._pipeline import BacktestResult
from shm.layout import FILL_FILLED, FILL_PARTIAL

_YEAR_MS = 365 * 24 * 3_600 * 1_000


def drawdown(equity: np.ndarray) -> np.ndarray:
    """How far the equity is under its running peak, at each point (>= 0)."""
    if equity.size == 0:
        return equity
    under: np.ndarray = np.maximum.accumulate(equity) - equity
    return under


def summary(res: BacktestResult, bar_ms: int) -> dict[str, Any]:
    """The figures of one run (plain floats and ints, JSON-ready)."""
    traded = np.isin(res.fills["status"], (FILL_PARTIAL, FILL_FILLED))
    qty, price = res.fills["qty"][traded], res.fills["price"][traded]
    steps = np.diff(res.equity) if res.equity.size > 1 else np.zeros(0)
    sd = float(steps.std(ddof=1)) if steps.size > 1 else 0.0
    sharpe = float(steps.mean()) / sd * math.sqrt(_YEAR_MS / bar_ms) if sd > 0 else 0.0
    dd = drawdown(res.equity)
    # tick-to-fill on the recorded clock: the venue latency the records allow, never the run's
    lat_us = (res.fills["ts_ns"][traded] - res.fills["origin_ts_ns"][traded]) / 1e3
    p50, p99 = (np.percentile(lat_us, [50, 99]).tolist() if lat_us.size else [0.0, 0.0])
    return {"tick_to_fill_us_p50": float(p50), "tick_to_fill_us_p99": float(p99),
            "ticks": res.ticks, "orders": res.orders, "approved": res.approved,
            "fills": int(traded.sum()), "fill_records": int(res.fills.shape[0]),
            "bars": res.bars, "recorded_span_s": res.elapsed_ns / 1e9,
            "pnl": float(res.equity[-1]) if res.equity.size else 0.0, "sharpe": sharpe,
            "max_drawdown": float(dd.max()) if dd.size else 0.0,
            "turnover": float(np.abs(qty * price).sum())}
