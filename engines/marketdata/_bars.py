"""One-second OHLC bars of the mid per symbol, built from TICK batches for the bus.

Vectorised per batch; `flush(second)` returns finished bars as msgpack-ready dicts.
"""

from __future__ import annotations

from typing import cast

import numpy as np


class BarAggregator:
    def __init__(self, symbols: tuple[str, ...]) -> None:
        n = len(symbols)
        self.symbols = symbols
        self.open = np.full(n, np.nan)
        self.high = np.full(n, -np.inf)
        self.low = np.full(n, np.inf)
        self.close = np.full(n, np.nan)
        self.count = np.zeros(n, dtype=np.int64)
        # The same arrays as Python scalars, for one tick at a time (no numpy call per tick).
        self._prices = tuple(cast("memoryview[float]", a.data)
                             for a in (self.open, self.high, self.low, self.close))
        self._count = self.count.data

    def update_one(self, sym: int, mid: float) -> None:
        """update() for a single tick of symbol `sym`."""
        (open_, high, low, close), count = self._prices, self._count
        if count[sym] == 0:
            open_[sym] = mid
        if mid > high[sym]:
            high[sym] = mid
        if mid < low[sym]:
            low[sym] = mid
        close[sym] = mid
        count[sym] += 1

    def update(self, ticks: np.ndarray) -> None:
        if ticks.shape[0] == 0:
            return
        sym = ticks["symbol_id"].astype(np.intp)
        mid = (ticks["bid"] + ticks["ask"]) * 0.5
        fresh = self.count == 0
        first = np.full(self.count.shape[0], -1, dtype=np.int64)
        first[sym[::-1]] = np.arange(sym.size)[::-1]  # last write wins: the first occurrence
        take = fresh & (first >= 0)
        self.open[take] = mid[first[take]]
        np.maximum.at(self.high, sym, mid)
        np.minimum.at(self.low, sym, mid)
        self.close[sym] = mid  # fancy assignment keeps the last per symbol
        self.count += np.bincount(sym, minlength=self.count.shape[0])

    def flush(self, second: int) -> list[dict]:  # type: ignore[type-arg]
        """Finished bars of symbols that ticked, then a reset for the next second."""
        bars = [
            {"symbol": self.symbols[i], "t": second, "open": float(self.open[i]),
             "high": float(self.high[i]), "low": float(self.low[i]),
             "close": float(self.close[i]), "ticks": int(self.count[i])}
            for i in np.flatnonzero(self.count)
        ]
        self.open[:] = np.nan
        self.high[:] = -np.inf
        self.low[:] = np.inf
        self.count[:] = 0
        return bars
