"""Per-strategy budgets: the portfolio engine's `portfolio.budgets`, enforced by risk as limits.

A budget is a strategy's gross worst-case exposure in units (the portfolio's unit): per symbol
the worst case of the strategy's own filled position and open orders, max(filled + open buys,
open sells - filled), summed over its symbols. An order that would raise it past the budget is
rejected (REASON_BUDGET); an order that does not raise it (it only takes risk off) passes even
over a budget that was cut. With `budgets = "required"` a strategy with no budget in force
(none came yet, the last one is older than `budget_max_age_s`, or its entry was malformed)
gets REASON_NO_BUDGET for every order: nothing is approved, never a silent 0 or unlimited.
Budgets live in `<state_dir>/<risk>.budgets` with the strategies' exposure, stale-checked on load.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from engines.persist import StateFile, StateStatus
from engines.records import group_cumsum
from shm.layout import REASON_BUDGET, REASON_NO_BUDGET, REASON_OK

BUDGETS_OFF, BUDGETS_REQUIRED = "off", "required"
BUDGET_MODES = (BUDGETS_OFF, BUDGETS_REQUIRED)
NO_BUDGET = -1  # a strategy's limit word while no budget is in force: approves nothing
FAR_FUTURE_NS = 1 << 62

Check = Callable[[int, int, int, int, float, int], int]


def budget_layout(n_symbols: int, max_strategies: int) -> dict[str, tuple[str, int]]:
    """The persistent arrays of a StrategyBook, for engines.persist.StateFile."""
    return {"strategy_book": ("<i8", 3 * max_strategies * n_symbols),
            "strategy_gross": ("<i8", max_strategies), "budget": ("<i8", max_strategies),
            "budget_at_ns": ("<i8", max_strategies)}


class StrategyBook:
    """Per (strategy, symbol): filled position and open buys / sells (RiskState's book, one
    per strategy); per strategy: gross worst case, budget (NO_BUDGET when none) and when it
    came (wall-clock ns)."""

    def __init__(self, n_symbols: int, max_strategies: int,
                 arrays: Mapping[str, np.ndarray] | None = None) -> None:
        if arrays is None:
            arrays = {k: np.zeros(n, np.int64)
                      for k, (_, n) in budget_layout(n_symbols, max_strategies).items()}
        self.n_symbols, self.max_strategies = n_symbols, max_strategies
        self.book = arrays["strategy_book"]  # [filled | open buys | open sells], each S x N
        cells = max_strategies * n_symbols
        self.filled, self.open_buy = self.book[:cells], self.book[cells:2 * cells]
        self.open_sell = self.book[2 * cells:]
        self.gross, self.limit = arrays["strategy_gross"], arrays["budget"]
        self.at_ns = arrays["budget_at_ns"]
        self.book_v, self.gross_v, self.limit_v = self.book.data, self.gross.data, self.limit.data

    def exposure(self, strat: int, sym: int) -> int:
        """The worst case of one strategy in one symbol."""
        k, cells, book = strat * self.n_symbols + sym, self.filled.shape[0], self.book_v
        return int(max(book[k] + book[cells + k], book[2 * cells + k] - book[k]))

    def book_fill(self, strat: int, sym: int, side: int, filled: int, released: int) -> None:
        """RiskState.book_fill for the strategy's own book (same rules)."""
        if not (0 <= strat < self.max_strategies) or sym >= self.n_symbols:
            return
        k, cells, book = strat * self.n_symbols + sym, self.filled.shape[0], self.book_v
        old = self.exposure(strat, sym)
        book[k] += side * filled
        o = cells + k if side > 0 else 2 * cells + k
        book[o] = max(book[o] - released, 0)
        self.gross_v[strat] += self.exposure(strat, sym) - old

    def set_filled(self, fills: np.ndarray) -> None:
        """Filled positions from a FILL array (the journal's), nothing open; gross follows."""
        ok = ((fills["qty"] > 0) & (fills["symbol_id"] < self.n_symbols)
              & (fills["strategy_id"] < self.max_strategies))
        mine = fills[ok]
        self.book[:] = 0
        np.add.at(self.filled, mine["strategy_id"].astype(np.intp) * self.n_symbols
                  + mine["symbol_id"].astype(np.intp), mine["side"].astype(np.int64) * mine["qty"])
        self._regross()

    def clear_open(self) -> None:
        """No order is open any more (a new ring set): every strategy's reservation goes."""
        self.open_buy[:] = 0
        self.open_sell[:] = 0
        self._regross()

    def _regross(self) -> None:
        worst = np.maximum(self.filled + self.open_buy, self.open_sell - self.filled)
        self.gross[:] = worst.reshape(self.max_strategies, self.n_symbols).sum(axis=1)

    def batch(self, strat: np.ndarray, sym: np.ndarray, buys: np.ndarray,
              sells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per order of a batch, as if every earlier one were approved: its strategy's gross
        after it, and the reason it fails with (REASON_OK: it passes)."""
        k = strat * self.n_symbols + sym
        filled = self.filled[k]
        new_long = filled + self.open_buy[k] + group_cumsum(k, buys)
        new_short = self.open_sell[k] - filled + group_cumsum(k, sells)
        delta = np.maximum(new_long, new_short) - np.maximum(new_long - buys, new_short - sells)
        gross = self.gross[strat] + group_cumsum(strat, delta)
        limit = self.limit[strat]
        code = np.where(limit < 0, REASON_NO_BUDGET,
                        np.where((delta > 0) & (gross > limit), REASON_BUDGET, REASON_OK))
        return gross, code

    def reserve_batch(self, strat: np.ndarray, sym: np.ndarray, buys: np.ndarray,
                      sells: np.ndarray, gross: np.ndarray) -> None:
        """Reserve the orders `batch` passed (its `gross` rows for them)."""
        k = strat * self.n_symbols + sym
        np.add.at(self.open_buy, k, buys)
        np.add.at(self.open_sell, k, sells)
        np.maximum.at(self.gross, strat, gross)  # a strategy's gross only grows in a batch

    def reserve_one(self, strat: int, sym: int, buy: bool, qty: int) -> int:
        """batch() for one order, reserved when it passes; returns its reason."""
        args = (np.array([strat], np.intp), np.array([sym], np.intp),
                np.array([qty if buy else 0], np.int64), np.array([0 if buy else qty], np.int64))
        gross, code = self.batch(*args)
        if not code[0]:
            self.reserve_batch(*args, gross)
        return int(code[0])


def budget_checker(check: Check, state: Any, sb: StrategyBook) -> Check:
    """`check` (RiskState's one-order checks) followed by the strategy's budget: an order
    `check` approved and its budget refuses gets its global reservation back."""
    book, flags, n_symbols = state.book_v, state.flags_v, state.n_symbols
    sbook, sgross, limits, cells = sb.book_v, sb.gross_v, sb.limit_v, sb.filled.shape[0]

    def checked(strat: int, sym: int, side: int, qty: int, price: float, ts_ns: int) -> int:
        gross_before = flags[0]
        code = check(strat, sym, side, qty, price, ts_ns)
        if code:
            return code
        limit = limits[strat]
        if limit < 0:
            code = REASON_NO_BUDGET
        else:
            k = strat * n_symbols + sym
            filled = sbook[k]
            long_, short = filled + sbook[cells + k], sbook[2 * cells + k] - filled
            old = long_ if long_ > short else short
            if side > 0:
                long_ += qty
            else:
                short += qty
            new = long_ if long_ > short else short
            gross = sgross[strat] + new - old
            if new == old or gross <= limit:
                sbook[(cells if side > 0 else 2 * cells) + k] += qty
                sgross[strat] = gross
                return REASON_OK
            code = REASON_BUDGET
        book[(n_symbols if side > 0 else 2 * n_symbols) + sym] -= qty  # undo check's reserve
        flags[0] = gross_before
        return code

    return checked


def parse_budgets(doc: object, max_strategies: int,
                  where: str = "portfolio.budgets") -> tuple[dict[int, int], list[str]]:
    """({strategy id: budget in whole units}, problems) from one `portfolio.budgets` message.
    Each problem names the field and the value; a malformed entry gives no budget."""
    if not isinstance(doc, dict):
        return {}, [f"{where}: the message is not a map, got {doc!r:.80}"]
    entries = doc.get("budgets")
    if not isinstance(entries, dict):
        return {}, [f"{where}.budgets: not a map of strategy id -> units, got {entries!r:.80}"]
    budgets, problems = {}, []
    for key, value in entries.items():
        strat = _strategy_id(key)
        if strat is None or strat >= max_strategies:
            problems.append(f"{where}.budgets[{key!r:.40}]: not a strategy id in 0.."
                            f"{max_strategies - 1}")
        elif (isinstance(value, bool) or not isinstance(value, int | float)
              or not math.isfinite(value) or value < 0):
            problems.append(f"{where}.budgets[{key!r}]: budget {value!r:.40} is not a finite "
                            "number >= 0 (units)")
        else:
            budgets[strat] = math.floor(value)  # whole units, never rounded up
    return budgets, problems


def _strategy_id(key: object) -> int | None:
    if isinstance(key, int) and not isinstance(key, bool):
        return key if key >= 0 else None
    if isinstance(key, str) and key.isascii() and key.isdigit():
        return int(key)
    return None


class RiskBudgets:
    """Risk's side of the budgets (off the order path): the state file, the bus feed, the
    expiry by age. Orders read only `book.limit`, which holds NO_BUDGET when none is in force."""

    def __init__(self, ctx: Any, topic: str, max_age_s: float, n_symbols: int,
                 max_strategies: int, log: Any,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.saved = StateFile(ctx.state, f"{ctx.name}.budgets",
                               budget_layout(n_symbols, max_strategies))
        self.book = StrategyBook(n_symbols, max_strategies, self.saved.arrays)
        self.max_age_ns, self.log, self.topic = int(max_age_s * 1e9), log, topic
        if self.saved.status is not StateStatus.LOADED:
            self.book.limit[:] = NO_BUDGET
        self.sub = ctx.subscriber([topic])
        self.due_ns = self.expire(clock())  # stale-checked on load (wall clock, as orders')
        self.updates = 0

    @property
    def lost(self) -> bool:
        """The strategies' exposure is gone (StateFile.lost): risk engages state_lost."""
        return self.saved.lost

    def refresh(self, now_ns: int) -> int:
        """Every budget message waiting applied, stale ones expired; the next expiry (ns)."""
        while (msg := self.sub.recv(0)) is not None:
            self.on_message(msg[1], now_ns)
        self.due_ns = self.expire(now_ns)
        return self.due_ns

    def on_message(self, doc: object, now_ns: int) -> None:
        """The latest budgets replace all: a strategy not named, or named with a malformed
        budget, has none in force from now on."""
        budgets, problems = parse_budgets(doc, self.book.max_strategies, self.topic)
        for problem in problems:
            self.log.error("risk_budget_malformed", problem=problem)
        limit, at = self.book.limit, self.book.at_ns
        limit[:] = NO_BUDGET
        at[:] = 0
        for strat, units in budgets.items():
            limit[strat], at[strat] = units, now_ns
        self.updates += 1

    def expire(self, now_ns: int) -> int:
        """NO_BUDGET for every budget older than the max age; the next expiry (ns)."""
        book = self.book
        live = book.limit >= 0
        stale = np.flatnonzero(live & (now_ns - book.at_ns > self.max_age_ns))
        for strat in stale.tolist():
            self.log.warning("risk_budget_stale", strategy_id=strat,
                             age_s=round((now_ns - int(book.at_ns[strat])) / 1e9, 3),
                             max_age_s=self.max_age_ns / 1e9)
        book.limit[stale] = NO_BUDGET
        live[stale] = False
        return int(book.at_ns[live].min()) + self.max_age_ns + 1 if live.any() else FAR_FUTURE_NS

    def status(self, now_ns: int) -> dict[str, Any]:
        """For `risk.status`: each strategy with a budget in force or an exposure."""
        book = self.book
        shown = np.flatnonzero((book.limit >= 0) | (book.gross != 0)).tolist()
        return {"mode": BUDGETS_REQUIRED, "topic": self.topic, "updates": self.updates,
                "max_age_s": self.max_age_ns / 1e9,
                "strategies": {str(s): {
                    "budget": int(book.limit[s]) if book.limit[s] >= 0 else None,
                    "exposure": int(book.gross[s]),
                    "age_s": round((now_ns - int(book.at_ns[s])) / 1e9, 3)
                    if book.limit[s] >= 0 else None} for s in shown}}

    def flush(self) -> None:
        self.saved.flush()
