"""Order management and the simulated venue: the order state table, idempotency, matching.

`OrderManager.on_decision` takes approved decisions once per order id (a strategy's ids only
grow, so a per-strategy high-water mark is the seen set); `match` fills marketable orders
against the latest tick, with venue latency and partial fills. Decisions come in as
DECISION_READ tuples and fills go out as FILL_WRITTEN tuples (shm.layout names the fields).
"""

from __future__ import annotations

from collections import deque
from collections.abc import MutableSequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engines.execution._amends import Amendments
from engines.execution._instruments import Instruments
from engines.execution._lifecycle import (
    ORDER_TRANSITIONS,
    TERMINAL,
    InvalidOrderTransition,
    OrderEvent,
    OrderState,
)
from engines.records import COUNTER_MASK, Fields
from shm.layout import (
    DECISION,
    FILL,
    FILL_ACCEPTED,
    FILL_CANCELLED,
    FILL_EXPIRED,
    FILL_FILLED,
    FILL_PARTIAL,
    FILL_REJECTED,
    LIQUIDITY_TAKER,
    REASON_OK,
    REASON_SELF_MATCH,
    TIF_FOK,
    TIF_IOC,
    TYPE_MARKET,
    VERDICT_APPROVED,
)

# What the order manager reads of a decision, and writes of a fill (every other byte zero).
DECISION_READ = Fields(DECISION, (
    "order_id", "strategy_id", "symbol_id", "side", "type", "tif", "ttl_ms", "qty", "price",
    "ts_ns", "origin_seq", "origin_ts_ns", "verdict", "decided_ts_ns"))
FILL_WRITTEN = Fields(FILL, (
    "order_id", "exec_id", "strategy_id", "symbol_id", "side", "liquidity", "status", "reason",
    "qty", "price", "leaves_qty", "ts_ns", "origin_seq", "origin_ts_ns", "order_ts_ns",
    "decided_ts_ns"))
DecisionRow = tuple[Any, ...]  # a DECISION_READ tuple
FillRow = tuple[Any, ...]  # a FILL_WRITTEN tuple
Quote = tuple[float, float, int, int]  # a symbol's touch: bid, ask, bid size, ask size
_ORDER_ID, _STRATEGY_ID, _VERDICT = (
    DECISION_READ.order_id, DECISION_READ.strategy_id, DECISION_READ.verdict)
_TTL_MS, _ORDER_TS = DECISION_READ.ttl_ms, DECISION_READ.ts_ns
_SYMBOL_ID, _SIDE, _TYPE = DECISION_READ.symbol_id, DECISION_READ.side, DECISION_READ.type
_QTY, _PRICE = DECISION_READ.qty, DECISION_READ.price


S, E = OrderState, OrderEvent


@dataclass(frozen=True, kw_only=True, slots=True)
class VenueParams:
    """The simulated venue: latency before an order can trade, and how much of the touch."""

    latency_us: float = 0.0
    max_fill_fraction: float = 1.0  # of the displayed touch size per match: < 1 gives partials
    order_ttl_ms: int = 1_000  # time to live of an order that states none (ttl_ms = 0)
    # Per symbol (name -> size): a limit price off the tick grid, or a quantity that is not a
    # whole number of lots, is rejected (REASON_TICK_SIZE, REASON_LOT_SIZE). None: no rule.
    tick_sizes: dict[str, float] | None = None
    lot_sizes: dict[str, int] | None = None
    # A new order (or a replace) that would cross a resting order of the same strategy and
    # symbol is rejected (REASON_SELF_MATCH: the newest one goes).
    self_match_prevention: bool = True


class Order:
    """One live order: its state, quantities, and the timestamps carried into its fills."""

    __slots__ = (
        "decided_ts_ns",
        "due_ns",
        "filled",
        "leaves",
        "order_id",
        "order_ts_ns",
        "origin_seq",
        "origin_ts_ns",
        "price",
        "row",
        "side",
        "state",
        "strategy_id",
        "symbol_id",
        "tif",
        "ttl_ns",
        "type",
    )

    def __init__(self, row: DecisionRow, due_ns: int, ttl_ns: int) -> None:
        self.row, self.ttl_ns = row, ttl_ns
        (self.order_id, self.strategy_id, self.symbol_id, self.side, self.type, self.tif, _ttl,
         qty, self.price, self.order_ts_ns, self.origin_seq, self.origin_ts_ns, _verdict,
         self.decided_ts_ns) = row
        self.leaves, self.filled, self.state, self.due_ns = qty, 0, S.NEW, due_ns

    def apply(self, event: OrderEvent) -> None:
        nxt = ORDER_TRANSITIONS.get((self.state, event))
        if nxt is None:
            raise InvalidOrderTransition(self.order_id, self.state, event)
        self.state = nxt


class OrderManager:
    """Live orders by id, every id ever accepted, and the matching against last quotes."""

    def __init__(self, params: VenueParams, high_water: MutableSequence[int] | np.ndarray,
                 instruments: Instruments | None = None) -> None:
        self.params = params
        self.instruments = instruments
        self.amends = Amendments(self)
        # Last order counter accepted per strategy id; persisted by the caller across restarts.
        self.high_water = high_water
        self.pending: deque[Order] = deque()  # waiting out the venue latency
        self.resting: dict[int, Order] = {}  # DAY/GTC orders not yet marketable
        self.exec_id = 0
        self.duplicates = 0
        self.order_prices: list[float] = []  # limit price of each fill made, for slippage
        self.ignored_rejected = 0
        self.expired = 0  # approved orders past their time to live: refused, never traded
        self.fills = 0  # fills with a quantity (FILL_PARTIAL, FILL_FILLED) since the start
        self._latency_ns = int(params.latency_us * 1000)
        self._default_ttl_ns = params.order_ttl_ms * 1_000_000

    def on_decision(self, row: DecisionRow, now_ns: int, out: list[FillRow]) -> None:
        """Take one decision (a DECISION_READ tuple); only new approved order ids go further,
        and only while young enough: a stale one gets its FILL_EXPIRED appended to `out`."""
        if row[_VERDICT] != VERDICT_APPROVED:
            self.ignored_rejected += 1  # fail closed: an unapproved order never trades
            return
        strategy_id, counter = row[_STRATEGY_ID], row[_ORDER_ID] & COUNTER_MASK
        if strategy_id >= len(self.high_water) or counter <= self.high_water[strategy_id]:
            self.duplicates += 1  # seen before (or unknown strategy): never trade it again
            return
        self.high_water[strategy_id] = counter
        ttl = row[_TTL_MS]
        ttl_ns = ttl * 1_000_000 if ttl else self._default_ttl_ns
        if now_ns - row[_ORDER_TS] > ttl_ns:
            self._expire(row, now_ns, out)
            return
        code = self.admit(row[_SYMBOL_ID], row[_STRATEGY_ID], row[_SIDE], row[_TYPE],
                          row[_QTY], row[_PRICE])
        if code:
            self.report(row, FILL_REJECTED, code, now_ns, out)
            return
        self.pending.append(Order(row, now_ns + self._latency_ns, ttl_ns))

    def take(self, row: DecisionRow, now_ns: int, out: list[FillRow]) -> bool:
        """The first half of on_decision, for a router: True when the order is approved, new
        and young (marked seen); else False, counted, a stale one's FILL_EXPIRED on `out`.
        (Kept beside on_decision, not called from it: one call less on the one-venue path.)"""
        if row[_VERDICT] != VERDICT_APPROVED:
            self.ignored_rejected += 1
            return False
        strategy_id, counter = row[_STRATEGY_ID], row[_ORDER_ID] & COUNTER_MASK
        if strategy_id >= len(self.high_water) or counter <= self.high_water[strategy_id]:
            self.duplicates += 1
            return False
        self.high_water[strategy_id] = counter
        ttl = row[_TTL_MS]
        if now_ns - row[_ORDER_TS] > (ttl * 1_000_000 if ttl else self._default_ttl_ns):
            self._expire(row, now_ns, out)
            return False
        return True

    def trade_now(self, row: DecisionRow, now_ns: int, quotes: dict[int, Quote],
                  out: list[FillRow]) -> bool:
        """on_decision(row, now_ns) then the match of that order at `now_ns`, for the commonest
        order: IOC/FOK, quantity > 0, no venue latency and nothing pending ahead of it. Such an
        order ends in its one trade, so neither an Order object nor the transition table is
        needed; the fills, counters and marks are the ones the two calls would give. Returns
        False, having done nothing, for any other order (call on_decision and match then)."""
        # Deliberately unrolled from on_decision, _trade, _executable and _fill (one decision
        # costs a few microseconds less); tests hold it to the general path.
        (order_id, strategy_id, symbol_id, side, type_, tif, ttl, qty, price, order_ts, seq,
         origin_ts, verdict, decided_ts) = row
        if (self._latency_ns or self.pending or qty <= 0 or (tif != TIF_IOC and tif != TIF_FOK)
                or self.resting or self.instruments is not None):
            return False  # resting orders (self-match) and instrument rules: the general path
        if verdict != VERDICT_APPROVED:
            self.ignored_rejected += 1
            return True
        counter, high_water = order_id & COUNTER_MASK, self.high_water
        if strategy_id >= len(high_water) or counter <= high_water[strategy_id]:
            self.duplicates += 1
            return True
        high_water[strategy_id] = counter
        if now_ns - order_ts > (ttl * 1_000_000 if ttl else self._default_ttl_ns):
            self._expire(row, now_ns, out)
            return True
        filled, px, quote = 0, 0.0, quotes.get(symbol_id)
        if quote is not None:
            bid, ask, bid_size, ask_size = quote
            if side > 0 and (type_ == TYPE_MARKET or price >= ask):
                filled, px = min(qty, max(1, int(ask_size * self.params.max_fill_fraction))), ask
            elif side < 0 and (type_ == TYPE_MARKET or price <= bid):
                filled, px = min(qty, max(1, int(bid_size * self.params.max_fill_fraction))), bid
            if tif == TIF_FOK and filled < qty:
                filled = 0
        leaves = qty - filled
        if filled:
            self.fills += 1
            self.exec_id += 1
            self.order_prices.append(price)
            out.append((order_id, self.exec_id, strategy_id, symbol_id, side, LIQUIDITY_TAKER,
                        FILL_PARTIAL if leaves else FILL_FILLED, 0, filled, px, leaves, now_ns,
                        seq, origin_ts, order_ts, decided_ts))
        if leaves:  # IOC/FOK: what did not trade now is cancelled
            self.exec_id += 1
            self.order_prices.append(price)
            out.append((order_id, self.exec_id, strategy_id, symbol_id, side, LIQUIDITY_TAKER,
                        FILL_CANCELLED, 0, 0, 0.0, 0, now_ns, seq, origin_ts, order_ts,
                        decided_ts))
        return True

    def _expire(self, row: DecisionRow, now_ns: int, out: list[FillRow]) -> None:
        """The order never reaches the venue: one FILL_EXPIRED (qty 0, nothing left open)
        completes it, so risk and positions learn it is over."""
        self.expired += 1
        self.report(row, FILL_EXPIRED, 0, now_ns, out)

    def report(self, row: DecisionRow, status: int, reason: int, now_ns: int,
               out: list[FillRow]) -> None:
        """The one report (qty 0, nothing left open) that ends an order never traded: expired,
        or rejected with `reason`."""
        (order_id, strategy_id, symbol_id, side, _type, _tif, _ttl, _qty, _price, order_ts, seq,
         origin_ts, _verdict, decided_ts) = row
        self.exec_id += 1
        self.order_prices.append(_price)
        out.append((order_id, self.exec_id, strategy_id, symbol_id, side, LIQUIDITY_TAKER,
                    status, reason, 0, 0.0, 0, now_ns, seq, origin_ts, order_ts, decided_ts))

    def admit(self, symbol_id: int, strategy_id: int, side: int, type_: int, qty: int,
              price: float, amending: int = 0) -> int:
        """REASON_* of an order (or of order `amending` as replaced) the book refuses, or 0:
        the instrument rules, then self-match against this strategy's resting orders."""
        if self.instruments is not None:
            code = self.instruments.check(symbol_id, type_, qty, price)
            if code:
                return code
        if self.params.self_match_prevention and self.resting:
            market = type_ == TYPE_MARKET
            for o in self.resting.values():
                if (o.strategy_id == strategy_id and o.symbol_id == symbol_id
                        and o.side == -side and o.order_id != amending
                        and (market or (price >= o.price if side > 0 else price <= o.price))):
                    return REASON_SELF_MATCH
        return REASON_OK

    def match(self, now_ns: int, quotes: dict[int, Quote], out: list[FillRow]) -> None:
        """Append FILL_WRITTEN tuples for every due order against `quotes` (symbol -> touch).

        Each order trades at most once per call (one look at the touch): an order that comes
        due and rests after a partial fill waits for the next call, not the same quote again."""
        resting = list(self.resting.values())
        while self.pending and self.pending[0].due_ns <= now_ns:
            order = self.pending.popleft()
            if now_ns - order.order_ts_ns > order.ttl_ns:  # expired on its way to the venue
                self._expire(order.row, now_ns, out)
                continue
            self._trade(order, quotes.get(order.symbol_id), now_ns, out)
        for order in resting:
            self._trade(order, quotes.get(order.symbol_id), now_ns, out)

    def take_order_prices(self) -> list[float]:
        """The order prices behind the fills made since the last call (then forgotten)."""
        prices, self.order_prices = self.order_prices, []
        return prices

    def next_due_s(self, now_ns: int) -> float | None:
        if not self.pending:
            return None
        return max(0.0, (self.pending[0].due_ns - now_ns) * 1e-9)

    def _trade(self, order: Order, quote: Quote | None, now_ns: int,
               out: list[FillRow]) -> None:
        qty, px = _executable(order, quote, self.params.max_fill_fraction)
        if order.tif == TIF_FOK and qty < order.leaves:
            qty = 0
        if qty > 0:
            order.leaves -= qty
            order.filled += qty
            done = order.leaves == 0
            order.apply(E.FILL if done else E.PARTIAL_FILL)
            self.fills += 1
            out.append(self._fill(order, qty, px, FILL_FILLED if done else FILL_PARTIAL, now_ns))
        if order.leaves and order.tif in (TIF_IOC, TIF_FOK):
            order.apply(E.CANCEL)
            order.leaves = 0
            out.append(self._fill(order, 0, 0.0, FILL_CANCELLED, now_ns))
        if order.state in TERMINAL:
            self.resting.pop(order.order_id, None)
            return
        if order.state is S.NEW:  # it rests untouched: the venue acknowledges it
            order.apply(E.ACCEPT)
            out.append(self._fill(order, 0, 0.0, FILL_ACCEPTED, now_ns))
        self.resting[order.order_id] = order

    def _fill(self, o: Order, qty: int, price: float, status: int, now_ns: int,
              reason: int = 0) -> FillRow:
        self.exec_id += 1
        self.order_prices.append(o.price)
        return (o.order_id, self.exec_id, o.strategy_id, o.symbol_id, o.side, LIQUIDITY_TAKER,
                status, reason, qty, price, o.leaves, now_ns, o.origin_seq, o.origin_ts_ns,
                o.order_ts_ns, o.decided_ts_ns)


def fill_records(rows: list[FillRow], fields: Fields = FILL_WRITTEN) -> np.ndarray:
    """FILL_WRITTEN (or `fields`) tuples as a FILL array (the fields not written are zero)."""
    size, pack = FILL.itemsize, fields.struct.pack_into
    raw = bytearray(len(rows) * size)
    for i, row in enumerate(rows):
        pack(raw, i * size, *row)
    return np.frombuffer(raw, FILL)


def _executable(order: Order, quote: Quote | None, fraction: float) -> tuple[int, float]:
    """(quantity, price) tradeable now: a buy lifts the ask, a sell hits the bid, if marketable."""
    if quote is None:
        return 0, 0.0
    bid, ask, bid_size, ask_size = quote
    market = order.type == TYPE_MARKET
    if order.side > 0 and (market or order.price >= ask):
        return min(order.leaves, max(1, int(ask_size * fraction))), ask
    if order.side < 0 and (market or order.price <= bid):
        return min(order.leaves, max(1, int(bid_size * fraction))), bid
    return 0, 0.0
