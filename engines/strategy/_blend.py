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
KEEP_BARS = 8  # bars kept per symbol and half while the other half is awaited


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
    """Per symbol: the features' part of the score and the prediction of its last few bars
    (either ring may run ahead of the other by up to KEEP_BARS bars), the last bar decided
    (a bar older than it is never decided), and the own position (written in place by the
    Ledger from the fills)."""

    def __init__(self, n_symbols: int, params: BlendParams, ids: OrderIds,
                 use_signals: bool) -> None:
        self.p, self.ids, self.use_signals = params, ids, use_signals
        self.position = np.zeros(n_symbols, dtype=np.int64)
        self._pos = self.position.data
        # bar -> (features' part of the score, origin (seq, ts_ns) of the record)
        self.parts: list[dict[int, tuple[float, tuple[int, int]]]] = [
            {} for _ in range(n_symbols)]
        self.predictions: list[dict[int, tuple[float, tuple[int, int]]]] = [
            {} for _ in range(n_symbols)]
        self.decided_bar = [_NONE] * n_symbols
        self.decisions = 0

    def on_features(self, records: np.ndarray, touch: Touch, now_ns: int,
                    out: list[OrderRow]) -> None:
        """Take a FEATURE batch in ring order; orders it completes are appended to `out`."""
        p, tanh, parts = self.p, math.tanh, self.parts
        wm, wr, wo, scale = p.momentum_weight, p.reversion_weight, p.ofi_weight, p.ofi_scale
        for sym, bar, seq, ts, mom, rev, ofi in zip(
                records["symbol_id"].tolist(), records["bar_ns"].tolist(),
                records["origin_seq"].tolist(), records["origin_ts_ns"].tolist(),
                records["momentum"].tolist(), records["mean_reversion"].tolist(),
                records["ofi"].tolist(), strict=True):
            if sym >= len(parts):
                continue  # a symbol past the topology's table: not ours to trade
            # x == x: not NaN (a factor not known yet counts 0)
            part = (wm * mom if mom == mom else 0.0) + (wr * rev if rev == rev else 0.0) \
                + (wo * tanh(ofi / scale) if ofi == ofi else 0.0)
            _keep(parts[sym], bar, (part, (seq, ts)))
            self._maybe_decide(sym, bar, touch, now_ns, out)

    def on_signals(self, records: np.ndarray, touch: Touch, now_ns: int,
                   out: list[OrderRow]) -> None:
        """Take a SIGNAL batch in ring order; orders it completes are appended to `out`."""
        predictions = self.predictions
        for sym, bar, seq, ts, pred in zip(
                records["symbol_id"].tolist(), records["bar_ns"].tolist(),
                records["origin_seq"].tolist(), records["origin_ts_ns"].tolist(),
                records["prediction"].tolist(), strict=True):
            if sym >= len(predictions):
                continue
            _keep(predictions[sym], bar, (pred, (seq, ts)))
            self._maybe_decide(sym, bar, touch, now_ns, out)

    def _maybe_decide(self, sym: int, bar: int, touch: Touch, now_ns: int,
                      out: list[OrderRow]) -> None:
        if bar <= self.decided_bar[sym]:
            return  # decided already, or older than a bar decided
        part = self.parts[sym].get(bar)
        if part is None:
            return  # its features are not in yet
        score, origin = part
        if self.use_signals:
            signal = self.predictions[sym].get(bar)
            if signal is None:
                return  # its prediction is not in yet
            p = self.p
            score += p.signal_weight * math.tanh(signal[0] / p.signal_scale)
            origin = signal[1]  # the later half: the signal's input tick
        self.decided_bar[sym] = bar
        self.decisions += 1
        if not abs(score) >= self.p.threshold:  # NaN decides nothing
            return
        seq, ts = origin
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


def _keep(held: dict[int, tuple[float, tuple[int, int]]], bar: int,
          value: tuple[float, tuple[int, int]]) -> None:
    """Hold `value` for `bar`, dropping the oldest bar past KEEP_BARS."""
    held[bar] = value
    if len(held) > KEEP_BARS:
        del held[min(held)]
