"""Per-strategy budgets against a model: for any sequence of orders (vectorised or one by one),
fills, budget messages and clock steps, no approval takes a strategy's worst-case exposure past
its budget, a strategy without a fresh budget gets no approval, and both paths agree."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from engines.risk._budgets import RiskBudgets
from engines.risk._checks import RiskLimits, RiskState, check_batch
from engines.risk._exposure import OpenOrders, open_layout
from engines.statedir import StateDir
from shm.layout import (
    FILL_CANCELLED,
    FILL_FILLED,
    FILL_PARTIAL,
    ORDER,
    REASON_BUDGET,
    REASON_NO_BUDGET,
    REASON_OK,
    TICK,
    TIF_GTC,
)

pytestmark = pytest.mark.timeout(300)
N_SYMBOLS, N_STRATEGIES = 2, 3
LIMITS = RiskLimits(max_order_qty=400, max_notional=1e12, max_position=10**9,
                    max_gross=10**9, price_band_bps=1e6, max_orders_per_s=10**9,
                    max_strategies=N_STRATEGIES, order_ttl_ms=1_000)
MAX_AGE_S = 2.0


class _Bus:
    """The budgets' subscriber: messages are handed to on_message directly here."""

    socket = None

    def recv(self, timeout_ms: int = 0) -> None:
        return None


class _Ctx:
    def __init__(self, state_dir: Path) -> None:
        self.state, self.name = StateDir(state_dir), "risk"

    def subscriber(self, topics: list[str]) -> _Bus:
        return _Bus()


class _Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def error(self, event: str, **kw: Any) -> None:
        self.events.append((event, kw))

    warning = info = error


class _Risk:
    """One risk: RiskState with budgets, its open orders, its budget feed."""

    def __init__(self, root: Path, now_ns: int) -> None:
        root.mkdir(mode=0o700)
        self.log = _Log()
        self.budgets = RiskBudgets(_Ctx(root), "portfolio.budgets", MAX_AGE_S, N_SYMBOLS,
                                   N_STRATEGIES, self.log)
        self.state = RiskState(N_SYMBOLS, LIMITS, budgets=self.budgets.book)
        ticks = np.zeros(N_SYMBOLS, TICK)
        ticks["symbol_id"] = np.arange(N_SYMBOLS)
        ticks["bid"], ticks["ask"] = 99.99, 100.01
        self.state.on_ticks(ticks)
        layout = open_layout(512)
        self.opens = OpenOrders(self.state, {k: np.zeros(n, dt) for k, (dt, n) in
                                             layout.items()})


class BudgetMachine(RuleBasedStateMachine):
    """Two risks (vectorised batches, one order at a time) against a model of each
    strategy's filled and open quantity per symbol and of the budgets in force."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="budgets-"))
        self.now_ns = 10**18
        self.risks = [_Risk(self.tmp / "vec", self.now_ns), _Risk(self.tmp / "one", self.now_ns)]
        self.budget: dict[int, tuple[int, int]] = {}  # strategy -> (units, at_ns)
        self.filled: dict[tuple[int, int], int] = {}
        self.open: dict[int, tuple[int, int, int, int]] = {}  # oid -> strat, sym, side, leaves
        self.counter = [0] * N_STRATEGIES

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _gross(self, strat: int) -> int:
        total = 0
        for sym in range(N_SYMBOLS):
            filled = self.filled.get((strat, sym), 0)
            buys = sum(o[3] for o in self.open.values() if o[:3] == (strat, sym, 1))
            sells = sum(o[3] for o in self.open.values() if o[:3] == (strat, sym, -1))
            total += max(filled + buys, sells - filled)
        return total

    def _in_force(self, strat: int) -> int | None:
        units, at = self.budget.get(strat, (-1, 0))
        return units if units >= 0 and self.now_ns - at <= MAX_AGE_S * 1e9 else None

    @rule(entries=st.dictionaries(st.sampled_from(["0", "1", "2", "7", "x", 1]),
                                  st.one_of(st.floats(0, 2_000), st.sampled_from(
                                      [-1.0, float("nan"), "100", True, 250.0])), max_size=4),
          malformed=st.booleans())
    def publish_budgets(self, entries: dict[Any, Any], malformed: bool) -> None:
        """A `portfolio.budgets` message (or a malformed one): the latest replaces all."""
        doc: Any = {"budgets": entries} if not malformed else {"budgets": list(entries)}
        for r in self.risks:
            r.budgets.on_message(doc, self.now_ns)
            r.budgets.expire(self.now_ns)
        self.budget = {}
        if not malformed:
            for key, v in entries.items():
                strat = int(key) if isinstance(key, str) and key.isdigit() else (
                    key if type(key) is int else None)
                if (strat is not None and strat < N_STRATEGIES and type(v) is float
                        and v == v and v >= 0):
                    self.budget[strat] = (int(v), self.now_ns)
        else:
            assert any(e == "risk_budget_malformed" for e, _ in self.risks[0].log.events)

    @rule(dt_s=st.sampled_from([0.1, 0.5, 1.5, 3.0]))
    def clock(self, dt_s: float) -> None:
        """Time passes; budgets past their max age go out of force."""
        self.now_ns += int(dt_s * 1e9)
        for r in self.risks:
            r.budgets.expire(self.now_ns)

    @rule(rows=st.lists(st.tuples(st.integers(0, N_STRATEGIES - 1),
                                  st.integers(0, N_SYMBOLS - 1), st.sampled_from([1, -1]),
                                  st.integers(1, 400)), min_size=1, max_size=24))
    def submit(self, rows: list[tuple[int, int, int, int]]) -> None:
        """A batch through both paths: same reasons; every approval within budget."""
        orders = np.zeros(len(rows), ORDER)
        for i, (strat, sym, side, qty) in enumerate(rows):
            self.counter[strat] += 1
            orders[i] = np.void((0,) * len(ORDER.names), ORDER)
            for name, value in (("order_id", strat << 40 | self.counter[strat]),
                                ("strategy_id", strat), ("symbol_id", sym), ("side", side),
                                ("type", 1), ("tif", TIF_GTC), ("qty", qty), ("price", 100.0),
                                ("ts_ns", self.now_ns)):
                orders[name][i] = value
        reasons = [check_batch(r.state, orders, small=s)[1] for r, s in
                   zip(self.risks, (0, 10**9), strict=True)]
        assert reasons[0].tolist() == reasons[1].tolist()
        for i, (strat, sym, side, qty) in enumerate(rows):
            code = int(reasons[0][i])
            limit = self._in_force(strat)
            before = self._gross(strat)
            if limit is None:
                assert code == REASON_NO_BUDGET, (strat, code)
                continue
            if code == REASON_OK:
                oid = int(orders["order_id"][i])
                self.open[oid] = (strat, sym, side, qty)
                after = self._gross(strat)
                assert after <= limit or after == before, (strat, before, after, limit)
                for r in self.risks:
                    r.opens.approve(oid, sym, side, TIF_GTC, qty, 0)
            elif code == REASON_BUDGET:
                assert self._gross_with(strat, sym, side, qty) > limit

    def _gross_with(self, strat: int, sym: int, side: int, qty: int) -> int:
        self.open[-1] = (strat, sym, side, qty)
        try:
            return self._gross(strat)
        finally:
            del self.open[-1]

    @precondition(lambda self: bool(self.open))
    @rule(pick=st.integers(0, 10**6), part=st.floats(0, 1), done=st.booleans())
    def fill(self, pick: int, part: float, done: bool) -> None:
        """The venue fills part of an open order, and maybe completes it (cancel the rest)."""
        oid = sorted(self.open)[pick % len(self.open)]
        strat, sym, side, leaves = self.open[oid]
        qty = max(1, int(leaves * part))
        status = FILL_FILLED if qty == leaves else FILL_PARTIAL
        for r in self.risks:
            r.opens.on_fill(oid, sym, side, status, qty, leaves - qty)
        self.filled[(strat, sym)] = self.filled.get((strat, sym), 0) + side * qty
        if status == FILL_FILLED:
            del self.open[oid]
            return
        self.open[oid] = (strat, sym, side, leaves - qty)
        if done:
            for r in self.risks:
                r.opens.on_fill(oid, sym, side, FILL_CANCELLED, 0, 0)
            del self.open[oid]

    @invariant()
    def books_agree_with_the_model(self) -> None:
        for r in self.risks:
            got = r.budgets.book.gross.tolist()
            assert got == [self._gross(s) for s in range(N_STRATEGIES)], got
            for s in range(N_STRATEGIES):
                assert (int(r.budgets.book.limit[s]) >= 0) == (self._in_force(s) is not None)


BudgetMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30,
                                           deadline=None)
TestBudgets = BudgetMachine.TestCase
