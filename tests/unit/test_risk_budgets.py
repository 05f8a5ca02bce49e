"""Risk's per-strategy budgets: parsing `portfolio.budgets`, failing closed (missing, stale,
malformed, lost), persistence across a restart, and the portfolio's cold-start budgets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engines.params import ParamError
from engines.portfolio import Allocator, PortfolioParams
from engines.risk._budgets import NO_BUDGET, RiskBudgets, parse_budgets
from engines.risk._checks import RiskLimits, RiskState
from engines.statedir import STARTED_MARKER, StateDir
from shm.layout import REASON_BUDGET, REASON_NO_BUDGET, REASON_OK, TICK

pytestmark = pytest.mark.timeout(30)
T0 = 1_800_000_000 * 10**9
LIMITS = RiskLimits(max_strategies=4, max_position=10**6, max_gross=10**6)


class _Bus:
    socket = None

    def __init__(self) -> None:
        self.waiting: list[tuple[str, Any]] = []

    def recv(self, timeout_ms: int = 0) -> tuple[str, Any] | None:
        return self.waiting.pop(0) if self.waiting else None


class _Ctx:
    def __init__(self, path: Path) -> None:
        path.mkdir(mode=0o700, exist_ok=True)
        self.state, self.name, self.bus = StateDir(path), "risk", _Bus()

    def subscriber(self, topics: list[str]) -> _Bus:
        assert topics == ["portfolio.budgets"]
        return self.bus


class _Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def error(self, event: str, **kw: Any) -> None:
        self.events.append((event, kw))

    warning = error


def _risk(ctx: _Ctx, log: _Log | None = None,
          now_ns: int = T0) -> tuple[RiskBudgets, RiskState]:
    budgets = RiskBudgets(ctx, "portfolio.budgets", 10.0, 2, 4, log or _Log(),
                          clock=lambda: now_ns)
    state = RiskState(2, LIMITS, budgets=budgets.book)
    ticks = np.zeros(2, TICK)
    ticks["symbol_id"], ticks["bid"], ticks["ask"] = [0, 1], 99.99, 100.01
    state.on_ticks(ticks)
    return budgets, state


def test_parse_budgets_when_well_formed_gives_whole_units_per_strategy() -> None:
    """Keys are strategy ids (strings, as msgpack maps carry them); units are floored."""
    got = parse_budgets({"method": "risk_parity", "budgets": {"1": 250.9, "3": 0.0}}, 4)
    assert got == ({1: 250, 3: 0}, [])


@pytest.mark.parametrize(("doc", "problem"), [
    ("budgets", "portfolio.budgets: the message is not a map, got 'budgets'"),
    ({"weights": {}}, "portfolio.budgets.budgets: not a map of strategy id -> units, got None"),
    ({"budgets": {"1": "300"}}, "portfolio.budgets.budgets['1']: budget '300' is not a finite"),
    ({"budgets": {"1": float("nan")}}, "budget nan is not a finite number >= 0"),
    ({"budgets": {"1": -5.0}}, "budget -5.0 is not a finite number >= 0"),
    ({"budgets": {"1": True}}, "budget True is not"),
    ({"budgets": {"9": 10.0}}, "portfolio.budgets.budgets['9']: not a strategy id in 0..3"),
    ({"budgets": {"-1": 10.0}}, "budgets['-1']: not a strategy id"),
])
def test_parse_budgets_when_malformed_names_the_field_and_value(doc: object,
                                                                problem: str) -> None:
    """Every malformed part is a problem naming where it is and what it held."""
    budgets, problems = parse_budgets(doc, 4)
    assert budgets == {} and len(problems) == 1 and problem in problems[0], problems


def test_check_when_no_budget_ever_arrived_rejects_no_budget(tmp_path: Path) -> None:
    """A fresh state dir: no strategy has a budget, nothing is approved (not unlimited)."""
    budgets, state = _risk(_Ctx(tmp_path))
    assert (budgets.book.limit == NO_BUDGET).all()
    assert state.check_fields(1, 0, 1, 10, 100.0, T0) == REASON_NO_BUDGET
    assert state.gross == 0 and int(state.open_buy[0]) == 0  # the global reservation undone


def test_check_when_past_budget_rejects_budget_and_a_reducing_order_passes(
        tmp_path: Path) -> None:
    """An order that raises the strategy's exposure past its budget is refused with its own
    reason; one that only takes risk off passes even once the budget is cut below it."""
    ctx = _Ctx(tmp_path)
    budgets, state = _risk(ctx)
    budgets.on_message({"budgets": {"1": 250.0, "2": 1000.0}}, T0)
    assert state.check_fields(1, 0, 1, 200, 100.0, T0) == REASON_OK
    assert state.check_fields(1, 1, -1, 100, 100.0, T0) == REASON_BUDGET  # 200 + 100 > 250
    assert state.check_fields(2, 1, -1, 100, 100.0, T0) == REASON_OK  # another strategy
    assert int(budgets.book.gross[1]) == 200
    budgets.on_message({"budgets": {"1": 50.0, "2": 1000.0}}, T0)
    assert state.check_fields(1, 0, -1, 150, 100.0, T0) == REASON_OK  # takes risk off
    assert state.check_fields(1, 0, 1, 1, 100.0, T0) == REASON_BUDGET


def test_budgets_when_older_than_max_age_approve_nothing_and_log(tmp_path: Path) -> None:
    """A budget past its max age is out of force (expired before the next order)."""
    log = _Log()
    budgets, state = _risk(_Ctx(tmp_path), log)
    budgets.on_message({"budgets": {"1": 500.0}}, T0)
    assert budgets.expire(T0) == T0 + 10 * 10**9 + 1
    assert state.check_fields(1, 0, 1, 10, 100.0, T0) == REASON_OK
    budgets.expire(T0 + 10 * 10**9 + 1)
    assert state.check_fields(1, 0, 1, 10, 100.0, T0) == REASON_NO_BUDGET
    assert ("risk_budget_stale", {"strategy_id": 1, "age_s": 10.0, "max_age_s": 10.0}) in [
        (e, {k: round(v, 1) if isinstance(v, float) else v for k, v in kw.items()})
        for e, kw in log.events]


def test_budgets_when_a_message_is_malformed_drop_every_budget_and_log(tmp_path: Path) -> None:
    """A malformed message leaves no budget in force (the latest message replaces all)."""
    log = _Log()
    ctx = _Ctx(tmp_path)
    budgets, state = _risk(ctx, log)
    ctx.bus.waiting = [("portfolio.budgets", {"budgets": {"1": 500.0}}),
                       ("portfolio.budgets", {"budgets": {"1": "lots"}})]
    budgets.refresh(T0)
    assert state.check_fields(1, 0, 1, 10, 100.0, T0) == REASON_NO_BUDGET
    assert log.events[0][0] == "risk_budget_malformed"
    assert "budget 'lots'" in log.events[0][1]["problem"]


def test_budgets_when_risk_restarts_are_kept_and_stale_checked_on_load(tmp_path: Path) -> None:
    """The budget in force and the strategy's exposure come back from the state dir; a
    budget that aged past its max age while risk was down comes back out of force."""
    budgets, state = _risk(_Ctx(tmp_path), now_ns=T0)
    budgets.on_message({"budgets": {"1": 300.0}}, T0)
    assert state.check_fields(1, 0, 1, 200, 100.0, T0) == REASON_OK
    budgets.flush()
    again, state = _risk(_Ctx(tmp_path), now_ns=T0 + 9 * 10**9)
    assert int(again.book.limit[1]) == 300 and int(again.book.gross[1]) == 200
    assert state.check_fields(1, 0, 1, 101, 100.0, T0) == REASON_BUDGET
    assert state.check_fields(1, 0, 1, 100, 100.0, T0) == REASON_OK
    again.flush()
    stale, state = _risk(_Ctx(tmp_path), now_ns=T0 + 11 * 10**9)
    assert int(stale.book.limit[1]) == NO_BUDGET and int(stale.book.gross[1]) == 300
    assert state.check_fields(1, 0, -1, 1, 100.0, T0) == REASON_NO_BUDGET


def test_budgets_when_the_file_is_missing_after_a_ready_daemon_are_lost(tmp_path: Path) -> None:
    """Without its file the strategies' exposure is unknown: `lost` (risk engages its kill
    switch, state_lost), and no budget is in force."""
    ctx = _Ctx(tmp_path)
    (tmp_path / STARTED_MARKER).write_text("")
    budgets, _state = _risk(ctx)
    assert budgets.lost and (budgets.book.limit == NO_BUDGET).all()


def test_allocator_when_strategies_are_named_budgets_them_before_any_pnl() -> None:
    """Named strategies without P&L history get an equal share of the total at once."""
    alloc = Allocator(PortfolioParams(total_budget=300.0, strategies="1, 2,3"))
    doc = alloc.allocate()
    assert doc is not None and doc["budgets"] == {"1": 100.0, "2": 100.0, "3": 100.0}
    for pnl in (0.0, 1.0, 3.0):
        alloc.on_snapshot(1, pnl)
    doc = alloc.allocate()
    assert doc is not None and doc["budgets"]["2"] == 100.0
    assert sum(doc["budgets"].values()) == pytest.approx(300.0)
    with pytest.raises(ParamError, match="'x' is not a strategy id"):
        Allocator(PortfolioParams(strategies="1,x"))


def test_strategy_book_when_set_from_journal_fills_nets_them_per_strategy() -> None:
    """A new ring set rebuilt from the journal: each strategy's filled position per symbol,
    nothing open, gross the sum of |position|; unknown strategies and symbols left out."""
    from engines.risk._budgets import StrategyBook
    from shm.layout import FILL

    fills = np.zeros(5, FILL)
    fills["strategy_id"] = [1, 1, 2, 9, 1]
    fills["symbol_id"] = [0, 0, 1, 0, 7]
    fills["side"] = [1, -1, -1, 1, 1]
    fills["qty"] = [300, 100, 50, 10, 10]
    book = StrategyBook(2, 4)
    book.open_buy[:] = 5
    book.set_filled(fills)
    assert book.filled.reshape(4, 2).tolist() == [[0, 0], [200, 0], [0, -50], [0, 0]]
    assert book.gross.tolist() == [0, 200, 50, 0] and not book.open_buy.any()
