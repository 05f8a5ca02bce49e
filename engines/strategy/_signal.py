"""The strategy's signal: per-symbol mean reversion around a batch EMA, position-aware sizing.

Pure and vectorised: `MeanReversion.on_ticks(ticks, out)` turns a TICK batch into at most one
ORDER per symbol, written into a caller-owned ORDER buffer; ids come from `OrderIds`. The
one-tick path reads the TICK fields of TICK_READ and gives the ORDER fields of ORDER_WRITTEN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from engines.compiled import SIGNAL, build
from engines.params import param
from engines.records import COUNTER_BITS, COUNTER_MASK, Fields
from shm.layout import ORDER, SIDE_BUY, SIDE_SELL, TICK, TIF_IOC, TYPE_LIMIT

SMALL_BATCH = 8  # up to this many ticks a Python loop beats numpy's per-call cost
# What the one-tick path reads of a TICK, and writes of an ORDER (every other byte zero).
TICK_READ = Fields(TICK, ("seq", "ts_ns", "symbol_id", "bid", "ask"))
ORDER_WRITTEN = Fields(ORDER, ("order_id", "strategy_id", "symbol_id", "side", "type", "tif",
                               "ttl_ms", "qty", "price", "ts_ns", "origin_seq", "origin_ts_ns"))
TickRow = tuple[int, int, int, float, float]  # a TICK_READ tuple
OrderRow = tuple[Any, ...]  # an ORDER_WRITTEN tuple


@dataclass(frozen=True, kw_only=True, slots=True)
class SignalParams:
    """The signal, documented: buy when the mid is `threshold_bps` under its EMA, sell above.

    The EMA is updated once per batch with the batch's mean mid per symbol, weighted as if
    each tick had been applied (1 - (1 - alpha)^n). Order size shrinks linearly as the
    strategy's own running position approaches `max_position`, and no order ever takes that
    position beyond it. One order per symbol per batch, at most one per `cooldown_ms`.
    """

    strategy_id: int = param(1, min=0, max=(1 << 23) - 1)  # order ids: id << 40 | n
    alpha: float = param(0.05, min=0, max=1)
    threshold_bps: float = param(3.0, unit="bps", min=0)
    order_qty: int = param(100, unit="units", min=1)
    max_position: int = param(1_000, unit="units", min=0)
    cooldown_ms: float = param(50.0, unit="ms", min=0)
    # each order's time to live: older, risk and execution refuse it
    order_ttl_ms: int = param(500, unit="ms", min=0)


class OrderIds:
    """Host-unique order ids: strategy_id << 40 | counter; the counter resumes after restart."""

    def __init__(self, strategy_id: int, last_counter: int = 0) -> None:
        if not 0 < strategy_id < (1 << 23):
            raise ValueError(f"strategy_id {strategy_id} out of range 1..{(1 << 23) - 1}")
        self.base = strategy_id << COUNTER_BITS
        self.counter = last_counter

    @staticmethod
    def counter_of(order_id: int) -> int:
        return int(order_id) & COUNTER_MASK

    def take(self, n: int) -> np.ndarray:
        ids = np.arange(self.counter + 1, self.counter + n + 1, dtype=np.uint64)
        self.counter += n
        return ids + np.uint64(self.base)


class MeanReversion:
    """State per symbol (EMA, own position, last order time) and the batch signal."""

    def __init__(self, n_symbols: int, params: SignalParams, ids: OrderIds) -> None:
        self.p = params
        self.ids = ids
        self.ema = np.full(n_symbols, np.nan)
        self.position = np.zeros(n_symbols, dtype=np.int64)
        self.last_order_ns = np.full(n_symbols, -(1 << 62), dtype=np.int64)
        self._threshold = params.threshold_bps * 1e-4
        self._cooldown_ns = int(params.cooldown_ms * 1e6)
        # The one-tick path reads and writes the same arrays through memoryviews: a Python
        # float or int per item instead of a numpy scalar (a third of the cost).
        self._ema = cast("memoryview[float]", self.ema.data)
        self._pos, self._last = self.position.data, self.last_order_ns.data
        # 1 - (1 - alpha)^count for the counts a small batch can have, as the batch path has it
        self._weights = [1.0 - (1.0 - params.alpha) ** c for c in range(SMALL_BATCH + 1)]
        self._alpha1 = self._weights[1]
        self._cap, self._cap_div = params.max_position, max(params.max_position, 1)
        self._qty, self._sid = params.order_qty, params.strategy_id
        self._ttl = params.order_ttl_ms
        # The compiled one-tick path (engines/strategy/_kernel.c) over the same arrays, or None:
        # kernel.on_tick(tick, now_ns, ids.counter) -> the order's qty, the ORDER in order_buf.
        self.order_buf = bytearray(ORDER.itemsize)
        self.kernel = _signal_kernel(self, ids)

    def on_ticks(self, ticks: np.ndarray, out: np.ndarray, now_ns: int) -> int:
        """Write the batch's orders into `out` (an ORDER buffer); returns how many."""
        if ticks.shape[0] <= SMALL_BATCH:
            return self._on_ticks_small(ticks, out, now_ns) if ticks.shape[0] else 0
        sym = ticks["symbol_id"].astype(np.intp)
        mid = (ticks["bid"] + ticks["ask"]) * 0.5
        ema = self.ema[sym]
        dev = mid / ema - 1.0  # NaN until the symbol's first batch: no order
        candidate = np.abs(dev) >= self._threshold
        candidate &= ticks["ts_ns"] >= self.last_order_ns[sym] + self._cooldown_ns
        self._update_ema(sym, mid)
        rows = np.flatnonzero(candidate)
        if rows.size == 0:
            return 0
        first = np.full(self.ema.shape[0], -1, dtype=np.int64)
        first[sym[rows][::-1]] = rows[::-1]  # the last write wins: each symbol's first row
        rows = first[first >= 0][: out.shape[0]]
        return self._emit(ticks, rows, sym[rows], np.sign(-dev[rows]), out, now_ns)

    def _emit(self, ticks: np.ndarray, rows: np.ndarray, sym: np.ndarray, sign: np.ndarray,
              out: np.ndarray, now_ns: int) -> int:
        side = np.where(sign >= 0, SIDE_BUY, SIDE_SELL).astype(np.int8)
        pos = self.position[sym]
        room = np.where(side > 0, self.p.max_position - pos, self.p.max_position + pos)
        scale = np.clip(1.0 - np.abs(pos) / max(self.p.max_position, 1), 0.1, 1.0)
        qty = np.minimum(np.maximum((self.p.order_qty * scale).astype(np.int64), 1), room)
        keep = qty > 0
        rows, sym, side, qty = rows[keep], sym[keep], side[keep], qty[keep]
        n = rows.size
        if n == 0:
            return 0
        o = out[:n]
        o["order_id"] = self.ids.take(n)
        o["strategy_id"] = self.p.strategy_id
        o["symbol_id"] = sym
        o["side"] = side
        o["type"] = TYPE_LIMIT
        o["tif"] = TIF_IOC
        o["_pad0"] = 0
        o["ttl_ms"] = self.p.order_ttl_ms
        o["qty"] = qty
        # marketable: cross the spread at the touch seen
        o["price"] = np.where(side > 0, ticks["ask"][rows], ticks["bid"][rows])
        o["ts_ns"] = now_ns
        o["origin_seq"] = ticks["seq"][rows]
        o["origin_ts_ns"] = ticks["ts_ns"][rows]
        np.add.at(self.position, sym, side.astype(np.int64) * qty)
        self.last_order_ns[sym] = ticks["ts_ns"][rows]
        return n

    def _on_ticks_small(self, ticks: np.ndarray, out: np.ndarray, now_ns: int) -> int:
        """The same decisions as the vectorised path for a small TICK array, into `out`."""
        rows = list(TICK_READ.struct.iter_unpack(np.ascontiguousarray(ticks).view(np.uint8).data))
        orders = self.on_rows(rows, now_ns, out.shape[0])
        write_orders(orders, out)
        return len(orders)

    def on_rows(self, rows: list[TickRow], now_ns: int, limit: int) -> list[OrderRow]:
        """The batch's orders (ORDER_WRITTEN tuples, at most `limit`) for up to SMALL_BATCH
        ticks given as TICK_READ tuples: the vectorised path's decisions, one tick at a time."""
        if len(rows) == 1:
            order = self.on_row(rows[0], now_ns, limit)
            return [] if order is None else [order]
        ema, last, cooldown, threshold = self._ema, self._last, self._cooldown_ns, self._threshold
        chosen: dict[int, tuple[int, int, float, float, float]] = {}
        totals: dict[int, float] = {}
        counts: dict[int, int] = {}
        for seq, ts, sym, bid, ask in rows:
            mid = (bid + ask) * 0.5
            dev = _deviation(mid, ema[sym])
            if sym not in chosen and abs(dev) >= threshold and ts >= last[sym] + cooldown:
                chosen[sym] = (seq, ts, bid, ask, dev)
            total = totals.get(sym)
            if total is None:
                totals[sym], counts[sym] = mid, 1
            else:
                totals[sym], counts[sym] = total + mid, counts[sym] + 1
        for sym, total in totals.items():
            count = counts[sym]
            mean, old = total / count, ema[sym]
            ema[sym] = mean if old != old else old + self._weights[count] * (mean - old)
        orders: list[OrderRow] = []
        for sym in sorted(chosen) if len(chosen) > 1 else chosen:
            if len(orders) < limit:
                order = self._order(sym, *chosen[sym], now_ns)
                if order is not None:
                    orders.append(order)
        return orders

    def on_row(self, row: TickRow, now_ns: int, limit: int = 1) -> OrderRow | None:
        """on_rows for the commonest batch, one tick (a TICK_READ tuple): its order or None,
        with no per-symbol bookkeeping."""
        seq, ts, sym, bid, ask = row
        mid, ema = (bid + ask) * 0.5, self._ema
        old = ema[sym]
        dev = mid / old - 1.0 if old else _deviation(mid, old)
        ema[sym] = mid if old != old else old + self._alpha1 * (mid - old)
        if (abs(dev) >= self._threshold and ts >= self._last[sym] + self._cooldown_ns
                and limit > 0):
            return self._order(sym, seq, ts, bid, ask, dev, now_ns)
        return None

    def _order(self, sym: int, seq: int, ts: int, bid: float, ask: float, dev: float,
               now_ns: int) -> OrderRow | None:
        side = SIDE_BUY if -dev >= 0 else SIDE_SELL
        pos, cap = self._pos[sym], self._cap
        room = cap - pos if side > 0 else cap + pos
        scale = min(max(1.0 - abs(pos) / self._cap_div, 0.1), 1.0)
        qty = min(max(int(self._qty * scale), 1), room)
        if qty <= 0:
            return None
        ids = self.ids
        ids.counter += 1
        self._pos[sym] = pos + side * qty
        self._last[sym] = ts
        return (ids.base + ids.counter, self._sid, sym, side, TYPE_LIMIT, TIF_IOC, self._ttl, qty,
                ask if side > 0 else bid, now_ns, seq, ts)

    def undo(self, sent: np.ndarray) -> None:
        """Forget the last orders written into `sent` (they could not be published)."""
        np.add.at(self.position, sent["symbol_id"].astype(np.intp),
                  -sent["side"].astype(np.int64) * sent["qty"])
        self.ids.counter -= sent.shape[0]

    def _update_ema(self, sym: np.ndarray, mid: np.ndarray) -> None:
        n_sym = self.ema.shape[0]
        counts = np.bincount(sym, minlength=n_sym)
        sums = np.bincount(sym, weights=mid, minlength=n_sym)
        seen = counts > 0
        mean = sums[seen] / counts[seen]
        weight = 1.0 - (1.0 - self.p.alpha) ** counts[seen]
        old = self.ema[seen]
        self.ema[seen] = np.where(np.isnan(old), mean, old + weight * (mean - old))


def write_orders(orders: list[OrderRow], out: np.ndarray) -> None:
    """Pack ORDER_WRITTEN tuples into the first records of an ORDER array."""
    raw, size, pack = out.view(np.uint8).data, ORDER.itemsize, ORDER_WRITTEN.struct.pack_into
    for i, order in enumerate(orders):
        pack(raw, i * size, *order)


def _signal_kernel(signal: MeanReversion, ids: OrderIds) -> Any:
    p = signal.p
    return build(SIGNAL, "signal", signal.ema, signal.position, signal.last_order_ns,
                 signal.order_buf, signal._alpha1, signal._threshold, signal._cooldown_ns,
                 p.max_position, p.order_qty, ids.base, p.strategy_id, p.order_ttl_ms)


def _deviation(mid: float, ema: float) -> float:
    """mid / ema - 1 as numpy has it: NaN before the first batch (no order), inf over 0."""
    if ema:
        return mid / ema - 1.0
    return math.copysign(math.inf, mid) - 1.0 if mid else math.nan
