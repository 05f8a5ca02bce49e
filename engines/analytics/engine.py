"""The analytics engine: from the bus, the P&L curve, Sharpe, max drawdown, fill rate,
slippage and the tick-to-fill latency histogram (HDR), published on `analytics.summary`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from engines.analytics._stats import LatencyHistogram, max_drawdown, sharpe
from engines.base import Engine
from engines.params import parse_params
from engines.wiring import Every
from shm.layout import FILL_CANCELLED, FILL_FILLED
from shm.status import W_RECORDS_IN


@dataclass(frozen=True, kw_only=True, slots=True)
class AnalyticsParams:
    publish_interval_s: float = 1.0
    curve_points: int = 86_400  # P&L samples kept (one per positions snapshot)


class TradeStats:
    """Running figures over execution reports (pure: fed dicts, no sockets)."""

    def __init__(self, curve_points: int) -> None:
        self.latency = LatencyHistogram()
        self.curve: list[float] = []
        self.curve_points = curve_points
        self.orders_done = self.orders_filled = self.fills = 0
        self.filled_qty = 0
        self.slippage_bps_sum = 0.0

    def on_executions(self, doc: dict[str, Any]) -> None:
        status = np.asarray(doc["status"])
        qty = np.asarray(doc["qty"], dtype=np.int64)
        traded = qty > 0
        self.fills += int(traded.sum())
        self.filled_qty += int(qty.sum())
        done = (status == FILL_FILLED) | (status == FILL_CANCELLED)
        self.orders_done += int(done.sum())
        self.orders_filled += int((status == FILL_FILLED).sum())
        if traded.any():
            price = np.asarray(doc["price"])[traded]
            ref = np.asarray(doc["order_price"])[traded]
            side = np.asarray(doc["side"])[traded]
            # positive = paid worse than the order's limit (never, for a fair venue)
            self.slippage_bps_sum += float((side * (price - ref) / ref * 1e4 * qty[traded]).sum())
            lat = np.asarray(doc["ts_ns"])[traded] - np.asarray(doc["origin_ts_ns"])[traded]
            self.latency.record_ns(lat)

    def on_pnl(self, pnl: float) -> None:
        self.curve.append(pnl)
        if len(self.curve) > self.curve_points:
            del self.curve[: len(self.curve) - self.curve_points]

    def summary(self) -> dict[str, Any]:
        return {
            "pnl": self.curve[-1] if self.curve else 0.0,
            "sharpe": sharpe(self.curve), "max_drawdown": max_drawdown(self.curve),
            "fills": self.fills, "filled_qty": self.filled_qty,
            # orders filled in full over orders finished (filled or cancelled)
            "fill_rate": self.orders_filled / self.orders_done if self.orders_done else 0.0,
            "slippage_bps": self.slippage_bps_sum / self.filled_qty if self.filled_qty else 0.0,
            "tick_to_fill_us": self.latency.summary(), "tick_to_fill_hdr": self.latency.encode(),
        }


class AnalyticsEngine(Engine):
    """Subscribes `trading.executions.*` and `trading.positions.all`; no rings."""

    params_spec = AnalyticsParams

    def on_start(self) -> None:
        self.p = parse_params(AnalyticsParams, self.ctx.params,
                              f"engines.{self.ctx.name}.params")
        self.stats = TradeStats(self.p.curve_points)
        self.sub = self.ctx.subscriber(["trading.executions.", "trading.positions.all"])
        self.timer = Every(self.p.publish_interval_s)

    def poll(self) -> int:
        n = 0
        while n < 1_000 and (msg := self.sub.recv(0)) is not None:
            topic, doc = msg
            if topic == "trading.positions.all":
                self.stats.on_pnl(float(doc.get("pnl", 0.0)))
            else:
                self.stats.on_executions(doc)
            n += 1
        self.ctx.status.add(W_RECORDS_IN, n)
        if self.timer.due(time.monotonic_ns()):
            self.ctx.publisher().publish("analytics.summary", self.stats.summary())
        return n

    def next_wakeup_s(self) -> float | None:
        return self.timer.seconds_left(time.monotonic_ns())

    def wait_handles(self) -> list[Any]:
        return [self.sub.socket]

    def on_stop(self) -> None:
        self.ctx.publisher().publish("analytics.summary", self.stats.summary())
