"""The research strategy's decisions: a score per symbol from features, factors and signals.

At each bar close a symbol gets one decision, once both its FEATURE record and (when the
strategy reads a signals ring) its SIGNAL record of that bar are in, whichever comes second:

  score = signal_weight * tanh(prediction / signal_scale)
        + momentum_weight * momentum + reversion_weight * mean_reversion
        + ofi_weight * tanh(ofi / ofi_scale)

|score| >= threshold sends one marketable IOC limit order in the score's sign (at the ask
to buy, the bid to sell), sized like the shipped strategy (smaller as the own position nears
max_position, never beyond it). A factor or feature not known yet (NaN) counts 0; a NaN or
missing prediction decides nothing. Pure: the live engine and the backtest run the same code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engines.params import param
from engines.strategy._signal import OrderIds, OrderRow
from shm.layout import SIDE_BUY, SIDE_SELL, TIF_IOC, TYPE_LIMIT

# (symbol, ts_ns) -> the touch (bid, ask, ...) or None
Touch = Callable[[int, int], tuple[float, ...] | None]
_NONE = -(1 << 62)  # a bar index no record has


@dataclass(frozen=True, kw_only=True, slots=True)
class BlendParams:
    """The score's weights and scales, the entry threshold and the sizing (module doc)."""

    strategy_id: int = param(2, min=1, max=(1 << 23) - 1)  # order ids: id << 40 | n
    signal_weight: float = param(2.0)
    signal_scale: float = param(1e-4, min=1e-12)  # a prediction this size counts tanh(1)
    momentum_weight: float = param(0.4)
    reversion_weight: float = param(0.2)
    ofi_weight: float = param(0.4)
    ofi_scale: float = param(1_000.0, unit="units", min=1e-9)
    threshold: float = param(0.3, min=0)
    order_qty: int = param(100, unit="units", min=1)
    max_position: int = param(1_000, unit="units", min=0)
    order_ttl_ms: int = param(500, unit="ms", min=0)  # each order's time to live


class Blend:
    """Per symbol: the last features' part of the score, the last prediction, the bar each is
    of, and the own position (written in place by the Ledger from the fills)."""

    def __init__(self, n_symbols: int, params: BlendParams, ids: OrderIds,
                 use_signals: bool) -> None:
        self.p, self.ids, self.use_signals = params, ids, use_signals
        self.position = np.zeros(n_symbols, dtype=np.int64)
        self._pos = self.position.data
        self.feature_part = [0.0] * n_symbols
        self.feature_bar = [_NONE] * n_symbols
        self.prediction = [math.nan] * n_symbols
        self.signal_bar = [_NONE] * n_symbols
        self.origin = [(0, 0)] * n_symbols  # the (seq, ts_ns) of the input that completed it
        self.decided_bar = [_NONE] * n_symbols
        self.decisions = 0

    def on_features(self, records: np.ndarray, touch: Touch, now_ns: int,
                    out: list[OrderRow]) -> None:
        """Take a FEATURE batch in ring order; orders it completes are appended to `out`."""
        p, tanh = self.p, math.tanh
        wm, wr, wo, scale = p.momentum_weight, p.reversion_weight, p.ofi_weight, p.ofi_scale
        for sym, bar, seq, ts, mom, rev, ofi in zip(
                records["symbol_id"].tolist(), records["bar_ns"].tolist(),
                records["origin_seq"].tolist(), records["origin_ts_ns"].tolist(),
                records["momentum"].tolist(), records["mean_reversion"].tolist(),
                records["ofi"].tolist(), strict=True):
            if sym >= len(self.feature_bar):
                continue  # a symbol past the topology's table: not ours to trade
            # x == x: not NaN (a factor not known yet counts 0)
            self.feature_part[sym] = (wm * mom if mom == mom else 0.0) \
                + (wr * rev if rev == rev else 0.0) + (wo * tanh(ofi / scale) if ofi == ofi
                                                      else 0.0)
            self.feature_bar[sym] = bar
            if not self.use_signals:
                self.origin[sym] = (seq, ts)
            self._maybe_decide(sym, touch, now_ns, out)

    def on_signals(self, records: np.ndarray, touch: Touch, now_ns: int,
                   out: list[OrderRow]) -> None:
        """Take a SIGNAL batch in ring order; orders it completes are appended to `out`."""
        for sym, bar, seq, ts, pred in zip(
                records["symbol_id"].tolist(), records["bar_ns"].tolist(),
                records["origin_seq"].tolist(), records["origin_ts_ns"].tolist(),
                records["prediction"].tolist(), strict=True):
            if sym >= len(self.feature_bar):
                continue
            self.prediction[sym], self.signal_bar[sym] = pred, bar
            self.origin[sym] = (seq, ts)
            self._maybe_decide(sym, touch, now_ns, out)

    def score(self, sym: int) -> float:
        """The symbol's score now (NaN while a needed prediction is missing)."""
        if not self.use_signals:
            return self.feature_part[sym]
        p = self.p
        return p.signal_weight * math.tanh(self.prediction[sym] / p.signal_scale) \
            + self.feature_part[sym]

    def _maybe_decide(self, sym: int, touch: Touch, now_ns: int, out: list[OrderRow]) -> None:
        bar = self.feature_bar[sym]
        if bar == _NONE or bar == self.decided_bar[sym]:
            return
        if self.use_signals and self.signal_bar[sym] != bar:
            return  # the other half of this bar is not in yet
        self.decided_bar[sym] = bar
        self.decisions += 1
        score = self.score(sym)
        if not abs(score) >= self.p.threshold:  # NaN decides nothing
            return
        seq, ts = self.origin[sym]
        quote = touch(sym, ts)
        if quote is None:
            return  # no market for it yet
        order = self._order(sym, SIDE_BUY if score > 0 else SIDE_SELL, quote, seq, ts, now_ns)
        if order is not None:
            out.append(order)

    def _order(self, sym: int, side: int, quote: tuple[float, ...], seq: int, ts: int,
               now_ns: int) -> OrderRow | None:
        p = self.p
        pos, cap = self._pos[sym], p.max_position
        room = cap - pos if side > 0 else cap + pos
        scale = min(max(1.0 - abs(pos) / max(cap, 1), 0.1), 1.0)
        qty = min(max(int(p.order_qty * scale), 1), room)
        if qty <= 0:
            return None
        ids = self.ids
        ids.counter += 1
        self._pos[sym] = pos + side * qty
        bid, ask = quote[0], quote[1]
        return (ids.base + ids.counter, p.strategy_id, sym, side, TYPE_LIMIT, TIF_IOC,
                p.order_ttl_ms, qty, ask if side > 0 else bid, now_ns, seq, ts)

    def undo(self, sent: np.ndarray) -> None:
        """Forget the last orders written into `sent` (they could not be published)."""
        np.add.at(self.position, sent["symbol_id"].astype(np.intp),
                  -sent["side"].astype(np.int64) * sent["qty"])
        self.ids.counter -= sent.shape[0]
