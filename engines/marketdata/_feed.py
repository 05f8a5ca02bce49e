"""Tick sources for the marketdata engine: a seedable GBM feed and a CSV replay.

Both fill caller-owned TICK arrays in batches (no per-tick Python work); pacing lives in
`Pacer`, so the sources themselves are pure and testable without a clock.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engines.params import ParamError
from engines.records import Fields, group_cumsum
from shm.layout import TICK

FLAG_SYNTHETIC = 1
FLAG_REPLAYED = 2
FLAG_BURST = 4
# The fields a feed gives a tick (GbmFeed.next_one's tuple); every other byte is zero.
TICK_FED = Fields(TICK, ("seq", "ts_ns", "symbol_id", "flags", "bid", "ask", "bid_size",
                         "ask_size"))
# A replay file's columns besides `symbol`: each is the TICK field of its name.
_CSV_COLUMNS: dict[str, type[int] | type[float]] = {
    "ts_ns": int, "bid": float, "ask": float, "bid_size": int, "ask_size": int}


@dataclass(frozen=True, kw_only=True, slots=True)
class GbmParams:
    """How the synthetic mid moves: per-second drift and volatility, spread and sizes."""

    seed: int = 7
    start_price: float = 100.0
    drift_per_s: float = 0.0
    sigma_per_sqrt_s: float = 0.002
    rate_per_s: float = 2_000.0  # average ticks per second across every symbol
    spread_bps: float = 2.0
    size_mean: int = 500


class GbmFeed:
    """Geometric Brownian motion mids for `n_symbols`, written straight into TICK batches."""

    def __init__(self, n_symbols: int, params: GbmParams) -> None:
        if n_symbols < 1:
            raise ParamError(f"marketdata needs at least one symbol, got {n_symbols}")
        self.params = params
        self.n_symbols = n_symbols
        self.rng = np.random.default_rng(params.seed)
        self.mids = np.full(n_symbols, params.start_price, dtype=np.float64)
        self.seq = 0
        dt = n_symbols / max(params.rate_per_s, 1.0)  # seconds between two ticks of a symbol
        self._drift = (params.drift_per_s - 0.5 * params.sigma_per_sqrt_s**2) * dt
        self._vol = params.sigma_per_sqrt_s * math.sqrt(dt)
        self._half_spread = params.spread_bps * 1e-4 / 2

    def next_one(self, ts_ns: int, flags: int = FLAG_SYNTHETIC) -> tuple[Any, ...]:
        """One new tick as a TICK_FED tuple: fill() for a batch of one, drawing the same random
        numbers, without a numpy call per field (a paced feed mostly sends one at a time)."""
        rng = self.rng
        sym = int(rng.integers(0, self.n_symbols, size=1, dtype=np.uint32)[0])
        step = self._drift + self._vol * float(rng.standard_normal(1)[0])
        mid = float(self.mids[sym]) * math.exp(step)
        self.mids[sym] = mid
        half = mid * self._half_spread
        bid_size, ask_size = rng.integers(1, 2 * self.params.size_mean, size=2).tolist()
        self.seq += 1
        return (self.seq, ts_ns, sym, flags, mid - half, mid + half, bid_size, ask_size)

    def fill(self, out: np.ndarray, ts_ns: int, flags: int = FLAG_SYNTHETIC) -> None:
        """Write len(out) new ticks into `out` (a TICK view), all stamped `ts_ns`."""
        n = int(out.shape[0])
        if n == 0:
            return
        sym = self.rng.integers(0, self.n_symbols, size=n, dtype=np.uint32)
        steps = self._drift + self._vol * self.rng.standard_normal(n)
        mid = self.mids[sym] * np.exp(group_cumsum(sym, steps))
        last = np.full(self.n_symbols, -1, dtype=np.int64)
        last[sym] = np.arange(n)  # fancy assignment keeps the last write per symbol
        seen = last >= 0
        self.mids[seen] = mid[last[seen]]
        half = mid * self._half_spread
        out["seq"] = np.arange(self.seq + 1, self.seq + n + 1, dtype=np.uint64)
        out["ts_ns"] = ts_ns
        out["symbol_id"] = sym
        out["flags"] = flags
        out["bid"] = mid - half
        out["ask"] = mid + half
        sizes = self.rng.integers(1, 2 * self.params.size_mean, size=(2, n))
        out["bid_size"] = sizes[0]
        out["ask_size"] = sizes[1]
        out["_pad"] = 0
        self.seq += n


class ReplayFeed:
    """Recorded ticks from a CSV (ts_ns,symbol,bid,ask,bid_size,ask_size), replayed in order."""

    def __init__(self, path: Path, symbols: tuple[str, ...], speed: float = 1.0,
                 loop: bool = True) -> None:
        self.ticks = load_csv(path, symbols)
        if self.ticks.size == 0:
            raise ParamError(f"replay file {path} holds no ticks for symbols {symbols}")
        self.speed = speed
        self.loop = loop
        offsets = self.ticks["ts_ns"] - self.ticks["ts_ns"][0]
        span = int(offsets[-1]) + 1
        self._offsets_ns = offsets
        self._span_ns = span
        self.pos = 0  # ticks emitted so far (may exceed the file length when looping)
        self.seq = 0

    def due(self, elapsed_ns: int) -> int:
        """How many ticks are due `elapsed_ns` after the start (all of them when speed = 0)."""
        n = self.ticks.size
        if self.speed <= 0:
            return 1 << 62 if self.loop else n - self.pos
        t = elapsed_ns * self.speed
        laps, rest = divmod(int(t), self._span_ns)
        if not self.loop and laps:
            return n - self.pos
        upto = laps * n + int(np.searchsorted(self._offsets_ns, rest, side="right"))
        return max(0, upto - self.pos)

    def fill(self, out: np.ndarray, ts_ns: int, flags: int = FLAG_REPLAYED) -> None:
        """Copy the next len(out) recorded ticks into `out`, restamped and renumbered."""
        n_file = self.ticks.size
        idx = (self.pos + np.arange(out.shape[0])) % n_file
        out[:] = self.ticks[idx]
        out["seq"] = np.arange(self.seq + 1, self.seq + out.shape[0] + 1, dtype=np.uint64)
        out["ts_ns"] = ts_ns
        out["flags"] = FLAG_REPLAYED | (flags & FLAG_BURST)
        self.pos += out.shape[0]
        self.seq += out.shape[0]


def load_csv(path: Path, symbols: tuple[str, ...]) -> np.ndarray:
    """The file's ticks for known symbols, as a TICK array (rows of other symbols skipped)."""
    index = {s: i for i, s in enumerate(symbols)}
    syms: list[int] = []
    columns: dict[str, list[int | float]] = {name: [] for name in _CSV_COLUMNS}
    with open(path, newline="") as fh:
        for lineno, row in enumerate(csv.DictReader(fh), start=2):
            sym = index.get(row["symbol"])
            if sym is None:
                continue
            try:
                values = [convert(row[name]) for name, convert in _CSV_COLUMNS.items()]
            except (KeyError, ValueError) as exc:
                raise ParamError(f"{path}:{lineno}: bad tick row {row!r}: {exc}") from None
            syms.append(sym)
            for column, value in zip(columns.values(), values, strict=True):
                column.append(value)
    ticks = np.zeros(len(syms), TICK)
    ticks["symbol_id"], ticks["flags"] = syms, FLAG_REPLAYED
    for name, column in columns.items():
        ticks[name] = column
    return ticks[np.argsort(ticks["ts_ns"], kind="stable")]


class Pacer:
    """Turns a rate and a monotonic clock into "how many ticks are due now"."""

    def __init__(self, rate_per_s: float, start_ns: int) -> None:
        self.rate_per_s = rate_per_s
        self.start_ns = start_ns
        self.emitted = 0

    def due(self, now_ns: int) -> int:
        if self.rate_per_s <= 0:  # unpaced: as fast as the ring takes them
            return 1 << 30
        return max(0, int((now_ns - self.start_ns) * self.rate_per_s * 1e-9) - self.emitted)

    def seconds_to_next(self, now_ns: int) -> float:
        if self.rate_per_s <= 0:
            return 0.0
        next_ns = self.start_ns + (self.emitted + 1) * 1e9 / self.rate_per_s
        return max(0.0, (next_ns - now_ns) * 1e-9)
