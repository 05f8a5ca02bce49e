"""A test order source for the FIX end-to-end run: once the ticks give it a mid, it writes a
few DAY buy orders priced below the test acceptor's ask (they rest there) on its own orders
ring, which risk reads beside the strategy's (fan-in). Run by nautilusd from this directory
(PYTHONPATH), entry `fix_day_orders:DayOrders`. With `below_mid_bps` the price is that far
under the mid of the last AAPL tick instead (the simulated venue, whose touch moves)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from engines.base import Engine
from engines.params import parse_params
from engines.wiring import one_reader, one_writer
from shm.layout import ORDER, SIDE_BUY, TICK, TIF_DAY, TYPE_LIMIT

COUNTER_BITS = 40


@dataclass(frozen=True, kw_only=True, slots=True)
class DayOrdersParams:
    strategy_id: int = 2
    count: int = 3
    qty: int = 60
    price: float = 99.95  # under the acceptor's ask (100.01): the orders rest
    after_s: float = 1.0
    below_mid_bps: float | None = None


class DayOrders(Engine):
    def on_start(self) -> None:
        self.p = parse_params(DayOrdersParams, self.ctx.params, "engines.dayorders.params")
        self.ticks = one_reader(self.ctx, TICK)
        self.orders = one_writer(self.ctx, ORDER)
        self.due = time.monotonic() + self.p.after_s
        self.sent = self.orders.cursor > 0  # a restart sends nothing again
        self.mid: float | None = None

    def poll(self) -> int:
        n = self.ticks.available()
        if n and self.p.below_mid_bps is not None:
            ticks = self.ticks.read(n)
            mine = ticks[ticks["symbol_id"] == 0]
            if mine.shape[0]:
                self.mid = float(mine["bid"][-1] + mine["ask"][-1]) / 2
            self.ticks.advance(n)
        elif n:
            self.ticks.advance(n)
        if self.sent or time.monotonic() < self.due or n == 0:
            return n
        price = self.p.price
        if self.p.below_mid_bps is not None:
            if self.mid is None:
                return n
            price = round(self.mid * (1 - self.p.below_mid_bps / 10_000), 2)
        o = np.zeros(self.p.count, ORDER)
        o["order_id"] = [(self.p.strategy_id << COUNTER_BITS) | (i + 1)
                         for i in range(self.p.count)]
        o["strategy_id"], o["symbol_id"], o["side"] = self.p.strategy_id, 0, SIDE_BUY
        o["type"], o["tif"], o["qty"], o["price"] = TYPE_LIMIT, TIF_DAY, self.p.qty, price
        o["ts_ns"] = o["origin_ts_ns"] = time.time_ns()
        o["ttl_ms"] = 60_000
        self.orders.write(o)
        self.sent = True
        return n + self.p.count

    def next_wakeup_s(self) -> float | None:
        return None if self.sent else 0.05
