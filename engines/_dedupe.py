"""Which orders risk has already decided: a per-strategy high-water mark of order counters.

A strategy's ids only grow, so "counter <= mark" means decided; the marks live in risk's
state file, so orders re-read after a crash of risk get no second decision.
"""

from __future__ import annotations

import numpy as np

from engines._signal import COUNTER_MASK

_MASK = np.uint64(COUNTER_MASK)


class DecidedIds:
    def __init__(self, high_water: np.ndarray) -> None:
        self.high_water = high_water
        self.duplicates = 0

    def _split(self, orders: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        counters = (orders["order_id"] & _MASK).astype(np.int64)
        strat = orders["strategy_id"].astype(np.intp)
        known = strat < self.high_water.shape[0]  # unknown ids are rejected as invalid later
        return counters, strat, known

    def fresh(self, orders: np.ndarray) -> np.ndarray:
        """`orders` without those decided before (the same array when none were)."""
        counters, strat, known = self._split(orders)
        seen = known & (counters <= self.high_water[np.where(known, strat, 0)])
        if not seen.any():
            return orders
        self.duplicates += int(seen.sum())
        return orders[~seen]

    def fresh_rows(self, rows: list[tuple]) -> list[tuple]:  # type: ignore[type-arg]
        """The same for a few ORDER rows as tuples (no numpy call per order)."""
        marks, size, out = self.high_water, self.high_water.shape[0], []
        for row in rows:
            strat = row[1]
            if strat < size and row[0] & COUNTER_MASK <= marks[strat]:
                self.duplicates += 1
            else:
                out.append(row)
        return out

    def record_rows(self, rows: list[tuple]) -> None:  # type: ignore[type-arg]
        marks, size = self.high_water, self.high_water.shape[0]
        for row in rows:
            strat, counter = row[1], row[0] & COUNTER_MASK
            if strat < size and counter > marks[strat]:
                marks[strat] = counter

    def record(self, orders: np.ndarray) -> None:
        """Mark `orders` as decided (call once their decisions are published)."""
        counters, strat, known = self._split(orders)
        np.maximum.at(self.high_water, strat[known], counters[known])
