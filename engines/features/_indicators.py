"""Rolling indicators per symbol, updated in O(1) per tick and per bar with numpy state.

Ticks accumulate into the bar under way (close, size-weighted mid, order-flow imbalance);
at each bar close every symbol that ticked in the bar updates its EMA, volatility, RSI,
VWAP and returns from running sums and circular buffers: no window is ever re-scanned.
Bars are cut on the ticks' own stamps (ts_ns // bar_ns), so recorded time gives the bars
the recording had. `BarFeatures.values` columns are `Features.columns`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engines.params import ParamError, param

_RESUM_EVERY = 1_024  # bars between exact re-sums of the running window sums (no drift)


@dataclass(frozen=True, kw_only=True, slots=True)
class FeatureParams:
    """Windows in bars; the indicator set is every column of Features.columns."""

    bar_ms: int = param(1_000, unit="ms", min=1)
    ema_alpha: float = param(0.1, min=0, max=1)
    vol_window: int = param(20, unit="bars", min=2)  # std (ddof 1) of log returns
    rsi_period: int = param(14, unit="bars", min=1)  # Wilder's smoothing, alpha = 1 / period
    vwap_window: int = param(20, unit="bars", min=1)  # mids weighted by touch size
    horizons: str = "1,5,20"  # returns over these many bars, comma-separated


def parse_horizons(text: str, where: str) -> tuple[int, ...]:
    """'1,5,20' -> (1, 5, 20); anything but positive integers is an error naming it."""
    try:
        horizons = tuple(int(h) for h in text.split(","))
    except ValueError:
        raise ParamError(f"{where}: horizons {text!r} is not a list of integers") from None
    if not horizons or min(horizons) < 1:
        raise ParamError(f"{where}: horizons {text!r} must be positive integers")
    return horizons


@dataclass(frozen=True, slots=True)
class BarFeatures:
    """The features of one bar close: the symbols that ticked in it, one row each."""

    bar_ns: int  # start of the bar, ns since the epoch
    symbol_ids: np.ndarray  # (k,) uint32
    values: np.ndarray  # (k, len(columns)) float64
    origin_seq: int = 0  # the tick that closed it (the first of the next bar; at the end of
    origin_ts_ns: int = 0  # the data, the last tick): its seq and stamp


class _Window:
    """A running sum over the last `n` values per symbol (a circular buffer per symbol)."""

    def __init__(self, n_symbols: int, n: int) -> None:
        self.buf = np.zeros((n_symbols, n))
        self.sum = np.zeros(n_symbols)
        self.filled = np.zeros(n_symbols, dtype=np.int64)  # values pushed so far
        self.n = n

    def push(self, rows: np.ndarray, x: np.ndarray) -> None:
        slot = self.filled[rows] % self.n
        self.sum[rows] += x - self.buf[rows, slot]
        self.buf[rows, slot] = x
        self.filled[rows] += 1
        resum = rows[self.filled[rows] % _RESUM_EVERY == 0]
        if resum.size:
            self.sum[resum] = self.buf[resum].sum(axis=1)


class Features:
    """Indicator state for `n_symbols`; `update(ticks)` returns the bars it closed."""

    def __init__(self, n_symbols: int, params: FeatureParams, where: str = "features") -> None:
        self.p = params
        self.n = n_symbols
        self.bar_ns = params.bar_ms * 1_000_000
        self.horizons = parse_horizons(params.horizons, f"{where}.horizons")
        self.columns = ("close", "ema", "vol", "rsi", "vwap", "ofi",
                        *(f"ret_{h}" for h in self.horizons))
        self.bar = -1  # index of the bar under way (ts_ns // bar_ns), -1 before any tick
        self.last_tick = (0, 0)  # seq and ts_ns of the last tick taken
        # the bar under way
        self.close = np.full(n_symbols, np.nan)
        self.count = np.zeros(n_symbols, dtype=np.int64)
        self.pv = np.zeros(n_symbols)
        self.vol_sum = np.zeros(n_symbols)
        self.ofi = np.zeros(n_symbols)
        self.prev_quote = np.full((4, n_symbols), np.nan)  # bid, ask, bid size, ask size
        # across bars
        self.last_close = np.full(n_symbols, np.nan)
        self.ema = np.full(n_symbols, np.nan)
        self.gain = np.full(n_symbols, np.nan)
        self.loss = np.full(n_symbols, np.nan)
        self.ret = _Window(n_symbols, params.vol_window)
        self.ret_sq = _Window(n_symbols, params.vol_window)
        self.vw_pv = _Window(n_symbols, params.vwap_window)
        self.vw_v = _Window(n_symbols, params.vwap_window)
        self.closes = np.full((n_symbols, max(self.horizons) + 1), np.nan)
        self.bars_seen = np.zeros(n_symbols, dtype=np.int64)
        self.latest = np.full((n_symbols, len(self.columns)), np.nan)  # the last row per symbol

    def update(self, ticks: np.ndarray) -> list[BarFeatures]:
        """Take a TICK batch in stamp order; the bars closed by it (oldest first)."""
        out: list[BarFeatures] = []
        if ticks.shape[0] == 0:
            return out
        # Each field once per batch (contiguous), the order-flow terms of every tick at once:
        # a tick's term depends on its symbol's previous touch, not on the bar.
        sym = ticks["symbol_id"].astype(np.intp)
        bid, ask = ticks["bid"], ticks["ask"]
        bid_size = ticks["bid_size"].astype(np.float64)
        ask_size = ticks["ask_size"].astype(np.float64)
        cols = (sym, (bid + ask) * 0.5, bid_size + ask_size,
                self._ofi_terms(sym, bid, ask, bid_size, ask_size))
        bars = ticks["ts_ns"] // self.bar_ns
        if self.bar < 0:
            self.bar = int(bars[0])
        start, n = 0, bars.shape[0]
        while start < n:
            if int(bars[-1]) == self.bar:  # the rest is in the bar under way
                self._accumulate(*(c[start:] for c in cols))
                break
            end = start + int(np.searchsorted(bars[start:], self.bar, side="right"))
            if end > start:
                self._accumulate(*(c[start:end] for c in cols))
            closed = self.close_bar(*self._closer(ticks, end))
            if closed is not None:
                out.append(closed)
            self.bar = int(bars[end]) if end < n else self.bar + 1
            start = end
        self.last_tick = (int(ticks["seq"][-1]), int(ticks["ts_ns"][-1]))
        return out

    def _closer(self, ticks: np.ndarray, end: int) -> tuple[int, int]:
        """Seq and stamp of the tick at row `end` (the one that closes the bar under way)."""
        if end < ticks.shape[0]:
            return int(ticks["seq"][end]), int(ticks["ts_ns"][end])
        return int(ticks["seq"][-1]), int(ticks["ts_ns"][-1])

    def _accumulate(self, sym: np.ndarray, mid: np.ndarray, weight: np.ndarray,
                    ofi: np.ndarray) -> None:
        n = self.n
        self.close[sym] = mid  # fancy assignment keeps the last per symbol
        self.count += np.bincount(sym, minlength=n)
        self.pv += np.bincount(sym, weights=mid * weight, minlength=n)
        self.vol_sum += np.bincount(sym, weights=weight, minlength=n)
        self.ofi += np.bincount(sym, weights=ofi, minlength=n)

    def _ofi_terms(self, sym: np.ndarray, bid: np.ndarray, ask: np.ndarray,
                   bid_size: np.ndarray, ask_size: np.ndarray) -> np.ndarray:
        """Cont's order-flow imbalance of each tick against the symbol's previous touch
        (0 for a symbol's first tick ever)."""
        if self.n == 1:
            order = None
            s, cur = sym, np.stack([bid, ask, bid_size, ask_size])
        else:
            order = np.argsort(sym, kind="stable")
            s = sym[order]
            cur = np.stack([bid[order], ask[order], bid_size[order], ask_size[order]])
        prev = np.empty_like(cur)
        prev[:, 1:] = cur[:, :-1]
        change = s[1:] != s[:-1]
        first = np.r_[True, change]
        prev[:, first] = self.prev_quote[:, s[first]]
        last = np.r_[change, True]
        self.prev_quote[:, s[last]] = cur[:, last]
        b, a, bs, az = cur
        pb, pa, pbs, paz = prev
        with np.errstate(invalid="ignore"):
            e: np.ndarray = ((b >= pb) * bs - (b <= pb) * np.nan_to_num(pbs)
                 - (a <= pa) * az + (a >= pa) * np.nan_to_num(paz))
        if order is None:
            return e
        terms: np.ndarray = np.empty_like(e)
        terms[order] = e
        return terms

    def close_bar(self, origin_seq: int = 0, origin_ts_ns: int = 0) -> BarFeatures | None:
        """Close the bar under way: the features of the symbols that ticked in it (closed by
        the tick of `origin_seq`, stamped `origin_ts_ns`)."""
        rows = np.flatnonzero(self.count)
        if rows.size == 0:
            return None
        close = self.close[rows]
        prev = self.last_close[rows]
        old_ema = self.ema[rows]
        a = self.p.ema_alpha
        self.ema[rows] = np.where(np.isnan(old_ema), close, a * close + (1 - a) * old_ema)
        has_prev = ~np.isnan(prev)
        rets = rows[has_prev]
        if rets.size:
            self._on_returns(rets, close[has_prev], prev[has_prev])
        self.vw_pv.push(rows, self.pv[rows])
        self.vw_v.push(rows, self.vol_sum[rows])
        seen = self.bars_seen[rows]
        depth = self.closes.shape[1]
        self.closes[rows, seen % depth] = close
        self.bars_seen[rows] = seen + 1
        values = self._values(rows, close, seen)
        self.latest[rows] = values
        self.last_close[rows] = close
        bar = BarFeatures(self.bar * self.bar_ns, rows.astype(np.uint32), values, origin_seq,
                          origin_ts_ns)
        self.count[:] = 0
        self.pv[:] = 0.0
        self.vol_sum[:] = 0.0
        self.ofi[:] = 0.0
        return bar

    def _on_returns(self, rows: np.ndarray, close: np.ndarray, prev: np.ndarray) -> None:
        r = np.log(close / prev)
        self.ret.push(rows, r)
        self.ret_sq.push(rows, r * r)
        diff = close - prev
        gain, loss = np.maximum(diff, 0.0), np.maximum(-diff, 0.0)
        k = 1.0 / self.p.rsi_period
        g, lo = self.gain[rows], self.loss[rows]
        self.gain[rows] = np.where(np.isnan(g), gain, g + k * (gain - g))
        self.loss[rows] = np.where(np.isnan(lo), loss, lo + k * (loss - lo))

    def _values(self, rows: np.ndarray, close: np.ndarray, seen: np.ndarray) -> np.ndarray:
        w = self.p.vol_window
        n_ret = self.ret.filled[rows]
        s1, s2 = self.ret.sum[rows], self.ret_sq.sum[rows]
        var = np.maximum(s2 - s1 * s1 / w, 0.0) / (w - 1)
        vol = np.where(n_ret >= w, np.sqrt(var), np.nan)
        g, lo = self.gain[rows], self.loss[rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            rsi = 100.0 * g / (g + lo)
            vwap = self.vw_pv.sum[rows] / self.vw_v.sum[rows]
        cols = [close, self.ema[rows], vol, rsi, vwap, self.ofi[rows]]
        depth = self.closes.shape[1]
        for h in self.horizons:
            past = self.closes[rows, (seen - h) % depth]
            cols.append(np.where(seen >= h, close / past - 1.0, np.nan))
        return np.stack(cols, axis=1)

    def flush(self) -> BarFeatures | None:
        """Close the bar under way at the end of the data (its origin: the last tick)."""
        return self.close_bar(*self.last_tick)


def cs_zscore(x: np.ndarray) -> np.ndarray:
    """Cross-sectional z-score over the finite entries (population std); 0 when fewer than
    two are finite or they are all equal; NaN stays NaN."""
    ok = np.isfinite(x)
    out = np.full(x.shape, np.nan)
    if ok.sum() < 2:
        out[ok] = 0.0
        return out
    v = x[ok]
    sd = float(v.std())
    out[ok] = (v - v.mean()) / sd if sd > 0 and math.isfinite(sd) else 0.0
    return out


def pct_rank(x: np.ndarray) -> np.ndarray:
    """Rank of each finite entry among the finite ones, ties averaged, divided by their
    count (pandas' rank(pct=True)); NaN stays NaN."""
    ok = np.isfinite(x)
    out = np.full(x.shape, np.nan)
    v = x[ok]
    if v.size:
        less = (v[None, :] < v[:, None]).sum(axis=1)
        equal = (v[None, :] == v[:, None]).sum(axis=1)
        out[ok] = (less + (equal + 1) / 2.0) / v.size
    return out
