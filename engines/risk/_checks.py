"""Pre-trade risk checks: a one-order reference path and a vectorised batch path.

Both apply the same checks in the same order to the same `RiskState` and must give the same
verdicts (a hypothesis property test holds them to it). Check order, first failure wins:
invalid, kill switch, no market, price band, max qty, max notional, rate, position, gross,
and with budgets the strategy's budget (engines.risk._budgets).

Exposure is real: per symbol the filled position plus the open (approved, not yet completed)
quantity reserved on each side. The worst case of a symbol is max(filled + open buys,
open sells - filled), whichever of its open orders fill; position and gross limits hold on
the worst case, so the real position can pass neither way whatever fills and what expires.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from engines.params import param
from engines.records import COUNTER_BITS, Fields, group_cumsum
from engines.risk._budgets import StrategyBook, budget_checker
from shm.layout import (
    ORDER,
    REASON_INVALID,
    REASON_KILL_SWITCH,
    REASON_MAX_GROSS,
    REASON_MAX_NOTIONAL,
    REASON_MAX_POSITION,
    REASON_MAX_QTY,
    REASON_NO_MARKET,
    REASON_OK,
    REASON_PRICE_BAND,
    REASON_RATE_LIMIT,
    REASON_STALE,
    TICK,
    VERDICT_APPROVED,
    VERDICT_REJECTED,
)

NS_PER_S = 1_000_000_000
# The kill switch word (flags[1]): any non-zero value stops every order.
KILL_RELEASED, KILL_ENGAGED, KILL_STATE_LOST, KILL_VENUE_DOWN = 0, 1, 2, 3
KILL_REASONS = {KILL_RELEASED: "", KILL_ENGAGED: "engaged", KILL_STATE_LOST: "state_lost",
                KILL_VENUE_DOWN: "venue_down"}
SMALL_BATCH = 16  # up to this many orders, numpy's per-call cost exceeds the Python loop's
_MAX_VECTOR_ROUNDS = 16  # after this many position breaches in one batch, finish one by one
# An order's fields in the argument order of RiskState.check_fields; a tick's mid.
CHECK_ARGS = Fields(ORDER, ("strategy_id", "symbol_id", "side", "qty", "price", "ts_ns"))
TICK_MID = Fields(TICK, ("symbol_id", "bid", "ask"))


@dataclass(frozen=True, kw_only=True, slots=True)
class RiskLimits:
    """Every limit is configurable; positions are per symbol over every strategy seen."""

    max_order_qty: int = param(1_000, unit="units", min=1)
    max_notional: float = param(250_000.0, unit="price x units", min=0)
    max_position: int = param(5_000, unit="units", min=0)  # |position| per symbol, in units
    max_gross: int = param(20_000, unit="units", min=0)  # sum over symbols of |position|
    price_band_bps: float = param(50.0, unit="bps", min=0)  # |price - last mid| / last mid
    # per strategy, per wall-clock second of the order's ts_ns
    max_orders_per_s: int = param(1_000, unit="orders/s", min=1)
    max_strategies: int = param(64, min=1, max=65_536)  # strategy ids 0 .. max_strategies - 1
    # P&L drop from its peak that engages the kill switch
    max_drawdown: float = param(50_000.0, unit="P&L", min=0)
    # time to live of an order that states none (ttl_ms = 0)
    order_ttl_ms: int = param(1_000, unit="ms", min=0)


class RiskState:
    """What the checks remember: filled positions and open reservations per symbol, last
    mids, rate buckets, kill switch (gross: the sum of every symbol's worst case).

    Pass `store` (name -> array, e.g. from a StateFile) to keep everything but the last
    mids across a restart; by default the arrays are private to this object. `budgets`:
    the strategies' books and budgets, checked after everything else (None: no budgets)."""

    def __init__(self, n_symbols: int, limits: RiskLimits,
                 store: dict[str, np.ndarray] | None = None,
                 budgets: StrategyBook | None = None) -> None:
        self.limits = limits
        self.budgets = budgets
        arrays = store if store is not None else {
            name: np.zeros(n, dtype=np.int64) for name, (_, n) in state_layout(
                n_symbols, limits).items()}
        # book = [filled position (signed) | open buy qty | open sell qty], n_symbols each:
        # one array, so the compiled kernel takes it as one view.
        self.book = arrays["book"]
        self.position = self.book[:n_symbols]
        self.open_buy = self.book[n_symbols:2 * n_symbols]
        self.open_sell = self.book[2 * n_symbols:]
        self.rate_bucket = arrays["rate_bucket"]
        self.rate_count = arrays["rate_count"]
        self._flags = arrays["flags"]  # [gross, killed]
        self.last_mid = np.full(n_symbols, np.nan)
        self.band = limits.price_band_bps * 1e-4
        # The one-order path works on memoryviews of the same arrays (Python scalars, no numpy
        # call per item) and on the limits as plain attributes of this object.
        self.n_symbols = n_symbols
        self.book_v, self.flags_v = self.book.data, self._flags.data
        self.mid_v = cast("memoryview[float]", self.last_mid.data)
        self.bucket_v, self.count_v = self.rate_bucket.data, self.rate_count.data
        self.max_strategies, self.max_order_qty = limits.max_strategies, limits.max_order_qty
        self.max_notional, self.max_orders_per_s = limits.max_notional, limits.max_orders_per_s
        self.max_position, self.max_gross = limits.max_position, limits.max_gross
        self.check_fields = one_order_checker(self)  # the one-order checks (see there)

    @property
    def gross(self) -> int:
        return int(self._flags[0])

    @gross.setter
    def gross(self, value: int) -> None:
        self._flags[0] = value

    @property
    def killed(self) -> bool:
        return bool(self._flags[1])

    @killed.setter
    def killed(self, value: bool) -> None:
        self._flags[1] = KILL_ENGAGED if value else KILL_RELEASED

    @property
    def kill_code(self) -> int:
        """KILL_RELEASED, KILL_ENGAGED (operator or drawdown), KILL_STATE_LOST or
        KILL_VENUE_DOWN (a watched venue's session is not up: released when it is)."""
        return int(self._flags[1])

    @kill_code.setter
    def kill_code(self, value: int) -> None:
        self._flags[1] = value

    def exposure(self, sym: int) -> int:
        """The worst case of one symbol: max(filled + open buys, open sells - filled)."""
        n, book = self.n_symbols, self.book_v
        filled = book[sym]
        return max(filled + book[n + sym], book[2 * n + sym] - filled)

    def book_fill(self, sym: int, side: int, filled: int, released: int,
                  order_id: int = -1) -> None:
        """A fill of `filled` units and `released` units of the order's reservation given back
        (its fill, or the unfilled rest of a completed order); gross follows. A release never
        takes a side's reservation below zero. With budgets, the order's strategy (from
        `order_id`) books it too."""
        if sym >= self.n_symbols or (side != 1 and side != -1):
            return
        if self.budgets is not None and order_id >= 0:
            self.budgets.book_fill(order_id >> COUNTER_BITS, sym, side, filled, released)
        n, book = self.n_symbols, self.book_v
        old = self.exposure(sym)
        book[sym] += side * filled
        k = n + sym if side > 0 else 2 * n + sym
        book[k] = max(book[k] - released, 0)
        self.flags_v[0] += self.exposure(sym) - old

    def clear_open(self) -> None:
        """No order is open any more (a new ring set: the venue has none): every reservation
        is released, gross is the filled positions' alone."""
        self.open_buy[:] = 0
        self.open_sell[:] = 0
        self.gross = int(np.abs(self.position).sum())
        if self.budgets is not None:
            self.budgets.clear_open()

    def on_tick_row(self, row: tuple[int, float, float]) -> None:
        """Remember the mid of one tick given as a TICK_MID tuple."""
        sym, bid, ask = row
        if sym < self.n_symbols:
            self.mid_v[sym] = (bid + ask) * 0.5

    def on_ticks(self, ticks: np.ndarray) -> None:
        """Remember the last mid per symbol from a TICK batch."""
        if 0 < ticks.shape[0] <= SMALL_BATCH:
            for row in _rows(TICK_MID, ticks):
                self.on_tick_row(row)
        elif ticks.shape[0]:
            sym = ticks["symbol_id"].astype(np.intp)
            ok = sym < self.last_mid.shape[0]
            self.last_mid[sym[ok]] = ((ticks["bid"] + ticks["ask"]) * 0.5)[ok]


def _rows(fields: Fields, records: np.ndarray) -> list[tuple[Any, ...]]:
    """The `fields` tuple of each record of an array (cheaper than tolist for a few)."""
    return list(fields.struct.iter_unpack(np.ascontiguousarray(records).view(np.uint8).data))


def state_layout(n_symbols: int, limits: RiskLimits) -> dict[str, tuple[str, int]]:
    """The persistent arrays of a RiskState, for engines._persist.StateFile."""
    return {"book": ("<i8", 3 * n_symbols), "rate_bucket": ("<i8", limits.max_strategies),
            "rate_count": ("<i8", limits.max_strategies), "flags": ("<i8", 2)}


def ttl_ns(ttl_ms: int, default_ttl_ns: int) -> int:
    """An order's time to live in ns: its own `ttl_ms`, or the default when it states none."""
    return ttl_ms * 1_000_000 if ttl_ms else default_ttl_ns


def stale_mask(orders: np.ndarray, now_ns: int, default_ttl_ns: int) -> np.ndarray:
    """True for each ORDER older than its time to live at `now_ns` (checked before anything
    else: a stale order changes no risk state)."""
    ttl = orders["ttl_ms"].astype(np.int64) * 1_000_000
    ttl = np.where(ttl == 0, default_ttl_ns, ttl)
    stale: np.ndarray = (now_ns - orders["ts_ns"]) > ttl
    return stale


def check_one(state: RiskState, order: np.void | dict) -> tuple[int, int]:  # type: ignore[type-arg]
    """The reference: (verdict, reason) for one order, updating `state` like the batch path."""
    reason = state.check_fields(int(order["strategy_id"]), int(order["symbol_id"]),
                                int(order["side"]), int(order["qty"]), float(order["price"]),
                                int(order["ts_ns"]))
    return (VERDICT_APPROVED if reason == REASON_OK else VERDICT_REJECTED), reason


def one_order_checker(state: RiskState) -> Callable[[int, int, int, int, float, int], int]:
    """`check(strat, sym, side, qty, price, ts_ns) -> reason`: the one-order checks as a
    closure over the state's views and limits (cells instead of attribute lookups); every
    one-order caller uses it through `RiskState.check_fields`, and a property test holds it
    to the vectorised path. The limits are fixed for the state's life, the arrays are read
    and written through the same memory as the state's."""
    n_symbols, max_strategies, band = state.n_symbols, state.max_strategies, state.band
    max_order_qty, max_notional = state.max_order_qty, state.max_notional
    max_orders_per_s, max_position, max_gross = (
        state.max_orders_per_s, state.max_position, state.max_gross)
    mid_v, flags, buckets, counts, book = (
        state.mid_v, state.flags_v, state.bucket_v, state.count_v, state.book_v)
    n_buy, n_sell = n_symbols, 2 * n_symbols
    isfinite = math.isfinite

    def check(strat: int, sym: int, side: int, qty: int, price: float, ts_ns: int) -> int:
        if (qty <= 0 or (side != 1 and side != -1) or sym >= n_symbols
                or strat >= max_strategies or not isfinite(price) or price <= 0):
            return REASON_INVALID
        if flags[1]:
            return REASON_KILL_SWITCH
        mid = mid_v[sym]
        if mid != mid:  # NaN: no tick seen for this symbol
            return REASON_NO_MARKET
        if abs(price - mid) > band * mid:
            return REASON_PRICE_BAND
        if qty > max_order_qty:
            return REASON_MAX_QTY
        if qty * price > max_notional:
            return REASON_MAX_NOTIONAL
        bucket = ts_ns // NS_PER_S
        if bucket > buckets[strat]:
            buckets[strat], counts[strat] = bucket, 0
        count = counts[strat] = counts[strat] + 1
        if count > max_orders_per_s:
            return REASON_RATE_LIMIT
        filled = book[sym]
        long_, short = filled + book[n_buy + sym], book[n_sell + sym] - filled
        old = long_ if long_ > short else short
        if side > 0:
            long_ += qty
            if long_ > max_position:
                return REASON_MAX_POSITION
        else:
            short += qty
            if short > max_position:
                return REASON_MAX_POSITION
        new = long_ if long_ > short else short
        gross = flags[0] + new - old
        if gross > max_gross:
            return REASON_MAX_GROSS
        if side > 0:
            book[n_buy + sym] += qty
        else:
            book[n_sell + sym] += qty
        flags[0] = gross
        return REASON_OK

    return check if state.budgets is None else budget_checker(check, state, state.budgets)


def check_batch(state: RiskState, orders: np.ndarray,
                small: int = SMALL_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """Verdicts and reasons (uint8, uint16 arrays) for an ORDER batch: vectorised, or one by
    one through the reference path when the batch has at most `small` orders (cheaper)."""
    if orders.shape[0] <= small:
        check = state.check_fields
        reasons = [check(*r) for r in _rows(CHECK_ARGS, orders)]
        reason = np.array(reasons, dtype=np.uint16)
        verdict = np.where(reason == REASON_OK, VERDICT_APPROVED, VERDICT_REJECTED)
        return verdict.astype(np.uint8), reason
    reason = _stateless(state, orders)
    passed = np.flatnonzero(reason == REASON_OK)
    if passed.size:
        limited = _rate(state, orders, passed)
        reason[passed[limited]] = REASON_RATE_LIMIT
        _positions(state, orders, passed[~limited], reason)
    verdict = np.where(reason == REASON_OK, VERDICT_APPROVED, VERDICT_REJECTED).astype(np.uint8)
    return verdict, reason.astype(np.uint16)


def _stateless(state: RiskState, orders: np.ndarray) -> np.ndarray:
    lim = state.limits
    qty, side, price = orders["qty"], orders["side"], orders["price"]
    sym, strat = orders["symbol_id"], orders["strategy_id"]
    n_sym = state.position.shape[0]
    invalid = ((qty <= 0) | ((side != 1) & (side != -1)) | (sym >= n_sym)
               | (strat >= lim.max_strategies) | ~np.isfinite(price) | ~(price > 0))
    mid = state.last_mid[np.where(sym < n_sym, sym, 0)]
    with np.errstate(invalid="ignore"):
        conds = [
            invalid,
            np.full(qty.shape, state.killed),
            np.isnan(mid),
            np.abs(price - mid) > state.band * mid,
            qty > lim.max_order_qty,
            qty * price > lim.max_notional,
        ]
    codes = [REASON_INVALID, REASON_KILL_SWITCH, REASON_NO_MARKET, REASON_PRICE_BAND,
             REASON_MAX_QTY, REASON_MAX_NOTIONAL]
    return np.select(conds, codes, REASON_OK).astype(np.int64)


def _rate(state: RiskState, orders: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Rate-limited mask over `rows`; every order reaching this check counts in its bucket."""
    strat = orders["strategy_id"][rows].astype(np.intp)
    buckets = orders["ts_ns"][rows] // NS_PER_S
    limited = np.zeros(rows.size, dtype=bool)
    for s in np.unique(strat):
        mine = np.flatnonzero(strat == s)
        start_bucket, start_count = state.rate_bucket[s], state.rate_count[s]
        eff = np.maximum.accumulate(np.maximum(buckets[mine], start_bucket))
        is_start = np.r_[eff[0] != start_bucket, eff[1:] != eff[:-1]]
        idx = np.arange(mine.size)
        run_first = np.maximum.accumulate(np.where(is_start, idx, 0))
        count = idx - run_first + 1 + np.where(eff == start_bucket, start_count, 0)
        limited[mine] = count > state.limits.max_orders_per_s
        state.rate_bucket[s], state.rate_count[s] = eff[-1], count[-1]
    return limited


def _positions(state: RiskState, orders: np.ndarray, rows: np.ndarray,
               reason: np.ndarray) -> None:
    """Position and gross checks on the worst case (see the module): vectorised up to each
    breach, which is decided in order."""
    lim, budgets = state.limits, state.budgets
    for _ in range(_MAX_VECTOR_ROUNDS):
        if rows.size == 0:
            return
        sym = orders["symbol_id"][rows].astype(np.intp)
        qty = orders["qty"][rows].astype(np.int64)
        buy = orders["side"][rows] > 0
        buys = np.where(buy, qty, 0)
        sells = qty - buys
        filled = state.position[sym]
        new_long = filled + state.open_buy[sym] + group_cumsum(sym, buys)
        new_short = state.open_sell[sym] - filled + group_cumsum(sym, sells)
        pos_fail = np.where(buy, new_long, new_short) > lim.max_position
        worst = np.maximum(new_long, new_short)
        gross = state.gross + np.cumsum(worst - np.maximum(new_long - buys, new_short - sells))
        gross_fail = gross > lim.max_gross
        if budgets is not None:
            strat = orders["strategy_id"][rows].astype(np.intp)
            s_gross, s_code = budgets.batch(strat, sym, buys, sells)
            fail = np.flatnonzero(pos_fail | gross_fail | (s_code != REASON_OK))
        else:
            fail = np.flatnonzero(pos_fail | gross_fail)
        f = int(fail[0]) if fail.size else rows.size
        if f:
            np.add.at(state.open_buy, sym[:f], buys[:f])
            np.add.at(state.open_sell, sym[:f], sells[:f])
            state.gross = int(gross[f - 1])
            if budgets is not None:
                budgets.reserve_batch(strat[:f], sym[:f], buys[:f], sells[:f], s_gross[:f])
        if f == rows.size:
            return
        reason[rows[f]] = (REASON_MAX_POSITION if pos_fail[f] else
                           REASON_MAX_GROSS if gross_fail[f] else int(s_code[f]))
        rows = rows[f + 1:]
    for r in rows:  # many breaches in one batch: the reference path, which is exact
        reason[r] = _position_one(state, orders[r])


def _position_one(state: RiskState, order: np.void) -> int:
    sym, qty, buy = int(order["symbol_id"]), int(order["qty"]), int(order["side"]) > 0
    filled = int(state.position[sym])
    long_, short = filled + int(state.open_buy[sym]), int(state.open_sell[sym]) - filled
    old = max(long_, short)
    long_, short = (long_ + qty, short) if buy else (long_, short + qty)
    if (long_ if buy else short) > state.limits.max_position:
        return REASON_MAX_POSITION
    gross = state.gross + max(long_, short) - old
    if gross > state.limits.max_gross:
        return REASON_MAX_GROSS
    if state.budgets is not None and (
            code := state.budgets.reserve_one(int(order["strategy_id"]), sym, buy, qty)):
        return code
    (state.open_buy if buy else state.open_sell)[sym] += qty
    state.gross = gross
    return REASON_OK


def decide(state: RiskState, orders: np.ndarray, out: np.ndarray,
           decided_ts_ns: int) -> np.ndarray:
    """Check an ORDER batch and write its DECISION records into `out`; returns the reasons."""
    stale = stale_mask(orders, decided_ts_ns, state.limits.order_ttl_ms * 1_000_000)
    if not stale.any():
        verdict, reason = check_batch(state, orders)
    else:
        live = np.flatnonzero(~stale)
        reason = np.full(orders.shape[0], REASON_STALE, dtype=np.uint16)
        verdict = np.full(orders.shape[0], VERDICT_REJECTED, dtype=np.uint8)
        if live.size:
            verdict[live], reason[live] = check_batch(state, orders[live])
    write_decisions(orders, verdict, reason, out, decided_ts_ns)
    return reason


def write_decisions(orders: np.ndarray, verdict: np.ndarray, reason: np.ndarray,
                    out: np.ndarray, decided_ts_ns: int) -> None:
    """Copy the orders into a DECISION view (byte copy of the shared prefix) with verdicts."""
    n = orders.shape[0]
    out_bytes = out.view(np.uint8).reshape(n, out.dtype.itemsize)
    out_bytes[:, orders.dtype.itemsize:] = 0
    out_bytes[:, : orders.dtype.itemsize] = orders.view(np.uint8).reshape(n, -1)
    out["verdict"] = verdict
    out["reason"] = reason
    out["decided_ts_ns"] = decided_ts_ns
