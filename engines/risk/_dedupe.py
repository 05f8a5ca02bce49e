"""Which orders risk has already decided: a per-strategy high-water mark of order counters.

A strategy's ids only grow, so "counter <= mark" means decided; the marks live in risk's
state file, so orders re-read after a crash of risk get no second decision.
"""

from __future__ import annotations

import numpy as np

from engines.records import COUNTER_MASK

_MASK = np.uint64(COUNTER_MASK)


class DecidedIds:
    def __init__(self, high_water: np.ndarray) -> None:
        self.high_water = high_water
        self.marks = high_water.data  # the same marks as Python ints, for one order
        self.size = high_water.shape[0]
        self.duplicates = 0

    def seen(self, strategy_id: int, order_id: int) -> bool:
        """True (and counted) if this order was decided before; one order, no numpy."""
        if strategy_id < self.size and order_id & COUNTER_MASK <= self.marks[strategy_id]:
            self.duplicates += 1
            return True
        return False

    def mark(self, strategy_id: int, order_id: int) -> None:
        """Record one order as decided (call once its decision is published)."""
        counter = order_id & COUNTER_MASK
        if strategy_id < self.size and counter > self.marks[strategy_id]:
            self.marks[strategy_id] = counter

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

    def record(self, orders: np.ndarray) -> None:
        """Mark `orders` as decided (call once their decisions are published)."""
        counters, strat, known = self._split(orders)
        np.maximum.at(self.high_water, strat[known], counters[known])
