"""The marketdata engine: a synthetic GBM feed or a CSV replay, written to the ticks ring.

Paced in ticks per second (0 = as fast as the ring takes them) with optional bursts; builds
one-second bars of the mid and publishes them on `market.data.bars.<symbol>`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from engines.base import Engine
from engines.marketdata._bars import BarAggregator
from engines.marketdata._feed import (
    FLAG_BURST,
    FLAG_SYNTHETIC,
    TICK_FED,
    GbmFeed,
    GbmParams,
    Pacer,
    ReplayFeed,
)
from engines.params import ParamError, param, parse_params
from engines.wiring import one_writer
from shm.layout import TICK
from shm.status import W_CUSTOM0, W_RECORDS_OUT


@dataclass(frozen=True, kw_only=True, slots=True)
class MarketDataParams:
    source: str = param("gbm", choices=("gbm", "replay"))
    seed: int = 7
    start_price: float = 100.0
    drift_per_s: float = 0.0
    sigma_per_sqrt_s: float = param(0.002, unit="1/sqrt(s)", min=0)
    rate_per_s: float = param(2_000.0, unit="ticks/s", min=0)  # 0 = unpaced
    spread_bps: float = param(2.0, unit="bps", min=0)
    size_mean: int = param(500, unit="units", min=1)
    burst_every_s: float = param(0.0, unit="s", min=0)  # 0 = no bursts
    burst_ticks: int = param(0, unit="ticks", min=0)  # extra ticks at once, flagged FLAG_BURST
    max_batch: int = param(512, unit="ticks", min=1)
    replay_file: str = ""
    # 1 = recorded pace, 10 = ten times faster, 0 = flat out
    replay_speed: float = param(1.0, min=0)
    replay_loop: bool = True
    bars: bool = True
    # > 0: stop producing after this long (tests, drills)
    stop_after_s: float = param(0.0, unit="s", min=0)


class MarketDataEngine(Engine):
    """Writes ticks; the only writer of its ticks ring."""

    counters = ("bursts",)
    params_spec = MarketDataParams

    def on_start(self) -> None:
        p = self.p = parse_params(MarketDataParams, self.ctx.params,
                                  f"engines.{self.ctx.name}.params")
        self.writer = one_writer(self.ctx, TICK)
        symbols = self.ctx.symbols or ("SYM0",)
        self.replay: ReplayFeed | None = None
        self.source: GbmFeed | ReplayFeed
        if p.source == "gbm":
            self.source = self.gbm = GbmFeed(len(symbols), GbmParams(
                seed=p.seed, start_price=p.start_price, drift_per_s=p.drift_per_s,
                sigma_per_sqrt_s=p.sigma_per_sqrt_s, rate_per_s=p.rate_per_s or 1e6,
                spread_bps=p.spread_bps, size_mean=p.size_mean))
        elif p.source == "replay":
            self.source = self.replay = ReplayFeed(
                Path(p.replay_file), symbols, p.replay_speed, p.replay_loop)
        else:
            raise ParamError(f"engines.{self.ctx.name}.source: {p.source!r} not gbm or replay")
        self.source.seq = self.writer.cursor  # a restarted feed keeps seq increasing
        self.buf, self.words = bytearray(TICK.itemsize), self.ctx.status.words
        now = time.monotonic_ns()
        self.start_ns = now
        self.pacer = Pacer(p.rate_per_s, now)
        self.next_burst_ns = now + int(p.burst_every_s * 1e9) if p.burst_every_s > 0 else 0
        self.bars = BarAggregator(symbols) if p.bars else None
        self.bar_second = time.time_ns() // 1_000_000_000
        self.stop_ns = now + int(p.stop_after_s * 1e9) if p.stop_after_s > 0 else 0

    def poll(self) -> int:
        now = time.monotonic_ns()
        if self.bars is not None:
            self._maybe_publish_bars()
        if self.stop_ns and now >= self.stop_ns:
            return 0
        flags = FLAG_SYNTHETIC
        if self.next_burst_ns and now >= self.next_burst_ns:
            self.next_burst_ns = now + int(self.p.burst_every_s * 1e9)
            n = self._emit(min(self.p.burst_ticks, self.writer.capacity), flags | FLAG_BURST)
            self.ctx.status.add(W_CUSTOM0, 1)  # bursts sent
            return n
        if self.replay is not None:
            due = self.replay.due(now - self.start_ns)
        else:
            due = self.pacer.due(now)
        n = self._emit(min(due, self.p.max_batch), flags)
        self.pacer.emitted += n
        return n

    def _emit(self, n: int, flags: int) -> int:
        if n <= 0:
            return 0
        if n == 1 and self.replay is None and self.writer.has_room(1):
            return self._emit_one(flags)
        view = self.writer.claim(n)
        self.source.fill(view, 0, flags)
        if self.bars is not None:
            self.bars.update(view)
        view["ts_ns"] = time.time_ns()  # stamped last: latency starts when the tick is out
        self.writer.publish()
        self.ctx.status.add(W_RECORDS_OUT, n)
        return n

    def _emit_one(self, flags: int) -> int:
        """One synthetic tick packed straight into the ring (a paced feed's usual batch)."""
        seq, _unstamped, sym, flags, bid, ask, bid_size, ask_size = self.gbm.next_one(0, flags)
        # stamped last: latency starts when the tick is out
        TICK_FED.struct.pack_into(self.buf, 0, seq, time.time_ns(), sym, flags, bid, ask,
                                  bid_size, ask_size)
        self.writer.write_bytes(self.buf)  # room was checked: cannot fail
        self.words[W_RECORDS_OUT] += 1
        if self.bars is not None:  # off the tick's path: bars go out once a second
            self.bars.update_one(sym, (bid + ask) * 0.5)
        return 1

    def _maybe_publish_bars(self) -> None:
        second = time.time_ns() // 1_000_000_000
        if second == self.bar_second or self.bars is None:
            return
        pub = self.ctx.publisher()
        for bar in self.bars.flush(self.bar_second):
            pub.publish(f"market.data.bars.{bar['symbol']}", bar)
        self.bar_second = second

    def next_wakeup_s(self) -> float | None:
        now = time.monotonic_ns()
        if self.stop_ns and now >= self.stop_ns:
            return 1.0 if self.bars is None else 0.5
        if self.replay is not None:
            return 0.001
        wait = self.pacer.seconds_to_next(now)
        if self.next_burst_ns:
            wait = min(wait, max(0.0, (self.next_burst_ns - now) * 1e-9))
        return min(wait, 0.5) if self.bars is not None else wait

    def on_stop(self) -> None:
        self.log.info("marketdata_stopped", ticks=self.ctx.status.get(W_RECORDS_OUT))
