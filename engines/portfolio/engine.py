"""The portfolio engine: per-strategy budgets from the strategies' P&L, on the bus.

It follows `trading.positions.<strategy_id>` (the positions engine's per-strategy P&L),
keeps each strategy's P&L increments per snapshot, and every `rebalance_interval_s`
publishes `portfolio.budgets`: {"method", "budgets": {strategy_id: units of gross
position}, "weights", "samples"}. Risk parity or mean-variance (engines.portfolio).
Strategies named in `strategies` are budgeted from the first rebalance: one without two P&L
increments yet (a new strategy has no P&L until it trades) gets an equal share of the total,
the others split the rest. Risk enforces the budgets (engines.risk, `budgets = "required"`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from engines.base import Engine
from engines.params import ParamError, param, parse_params
from engines.portfolio._allocation import budgets
from engines.wiring import Every
from shm.status import W_CUSTOM0, W_RECORDS_IN


@dataclass(frozen=True, kw_only=True, slots=True)
class PortfolioParams:
    method: str = param("risk_parity", choices=("risk_parity", "mean_variance"))
    total_budget: float = param(20_000.0, unit="units", min=0)  # gross, split across them
    risk_aversion: float = param(1.0, min=0)
    shrink: float = param(0.1, min=0, max=1)
    history: int = param(600, unit="snapshots", min=2)
    rebalance_interval_s: float = param(5.0, unit="s", min=0.01)
    strategies: str = ""  # strategy ids budgeted from the start, comma-separated ("1,2")


def strategy_ids(raw: str, where: str = "strategies") -> tuple[int, ...]:
    """The `strategies` param ("1, 2") as ids; anything but whole numbers >= 0 is a
    ParamError naming the value."""
    names = [n.strip() for n in raw.split(",") if n.strip()]
    bad = [n for n in names if not (n.isascii() and n.isdigit())]
    if bad:
        raise ParamError(f"{where}: {bad[0]!r} is not a strategy id (a whole number >= 0) "
                         f"in {raw!r}")
    return tuple(sorted({int(n) for n in names}))


class Allocator:
    """P&L increments per strategy from snapshots, and the budgets they give (pure)."""

    def __init__(self, p: PortfolioParams, where: str = "strategies") -> None:
        self.p = p
        self.named = strategy_ids(p.strategies, where)
        self.last: dict[int, float] = {}
        self.increments: dict[int, list[float]] = {}

    def on_snapshot(self, strategy_id: int, pnl: float) -> None:
        prev = self.last.get(strategy_id)
        self.last[strategy_id] = pnl
        if prev is not None:
            series = self.increments.setdefault(strategy_id, [])
            series.append(pnl - prev)
            del series[: max(0, len(series) - self.p.history)]

    def allocate(self) -> dict[str, Any] | None:
        ids = sorted(s for s, v in self.increments.items() if len(v) >= 2)
        cold = sorted(set(self.named) - set(ids))
        if not ids and not cold:
            return None
        share = self.p.total_budget / (len(ids) + len(cold))
        out = {s: share for s in cold}
        n = min((len(self.increments[s]) for s in ids), default=0)
        if ids:
            pnl = np.array([self.increments[s][-n:] for s in ids]).T
            b = budgets(pnl, self.p.method, self.p.total_budget - share * len(cold),
                        self.p.risk_aversion, self.p.shrink)
            out |= {s: float(v) for s, v in zip(ids, b, strict=True)}
        total = sum(out.values()) or 1.0
        return {"method": self.p.method, "samples": n,
                "budgets": {str(s): v for s, v in sorted(out.items())},
                "weights": {str(s): v / total for s, v in sorted(out.items())}}


class PortfolioEngine(Engine):
    """Bus in, bus out; no rings."""

    counters = ("rebalances",)
    params_spec = PortfolioParams

    def on_start(self) -> None:
        self.p = parse_params(PortfolioParams, self.ctx.params,
                              f"engines.{self.ctx.name}.params")
        self.allocator = Allocator(self.p, f"engines.{self.ctx.name}.params.strategies")
        self.sub = self.ctx.subscriber(["trading.positions."])
        self.pub = self.ctx.publisher()
        self.timer = Every(self.p.rebalance_interval_s)

    def poll(self) -> int:
        n = 0
        while (msg := self.sub.recv(0)) is not None:
            topic, doc = msg
            tail = str(topic).rsplit(".", 1)[-1]
            if tail.isdigit() and isinstance(doc, dict):
                self.allocator.on_snapshot(int(tail), float(doc.get("pnl", 0.0)))
                n += 1
        self.ctx.status.add(W_RECORDS_IN, n)
        if self.timer.due(time.monotonic_ns()):
            doc = self.allocator.allocate()
            if doc is not None:
                self.pub.publish("portfolio.budgets", doc)
                self.ctx.status.add(W_CUSTOM0, 1)
        return n

    def next_wakeup_s(self) -> float | None:
        return max(self.timer.seconds_left(time.monotonic_ns()), 0.01)

    def wait_handles(self) -> list[Any]:
        return [self.sub.socket]
