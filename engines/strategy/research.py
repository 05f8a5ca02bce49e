"""The research strategy engine: features, factors and signals from their rings -> its orders.

It reads the features engine's FEATURE ring (indicators and factors of each bar close) and,
when it has one, the models engine's SIGNAL ring; a symbol's decision is engines.strategy.
_blend's. Orders go through risk exactly as the shipped strategy's do: their own ORDER ring,
ids strategy_id << 40 | counter past every id issued (kept in the state dir), the own position
from the fills ring, prices at the touch of the ticks ring's latest-value board (the engine
never reads the tick stream: it needs `latest = true` on that ring).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from engines.base import Engine
from engines.params import ParamError, param, parse_params
from engines.records import BID_ASK_F
from engines.rings import RecordReader
from engines.strategy._blend import Blend, BlendParams, Touch
from engines.strategy._ledger import issued_ids, open_ledger
from engines.strategy._signal import OrderRow, write_orders
from engines.wiring import Quote, one_reader, one_writer, tick_quotes
from shm.errors import RingFullError
from shm.layout import FEATURE, ORDER, SIGNAL
from shm.status import W_CUSTOM0, W_DROPPED, W_ERRORS, W_RECORDS_IN, W_RECORDS_OUT

IDS_RESERVE = 1 << 16  # more orders than one poll sends
W_DECISIONS = W_CUSTOM0 + 1  # the second counter
Handler = Callable[[np.ndarray, Touch, int, list[OrderRow]], None]  # Blend.on_features, ...


@dataclass(frozen=True, kw_only=True, slots=True)
class ResearchStrategyParams(BlendParams):
    max_batch: int = param(1_024, unit="records", min=1)  # records taken per ring per poll
    # a full orders ring for longer drops the poll's orders (counted)
    write_timeout_s: float = param(0.5, unit="s", min=0)


class ResearchStrategyEngine(Engine):
    """Reads the features ring (and the signals ring), writes orders; see _blend."""

    counters = ("quantity_sent", "decisions")
    params_spec = ResearchStrategyParams

    def on_start(self) -> None:
        self.p = parse_params(ResearchStrategyParams, self.ctx.params,
                              f"engines.{self.ctx.name}.params")
        self.features = one_reader(self.ctx, FEATURE)
        self.signals = one_reader(self.ctx, SIGNAL, required=False)
        self.ticks, latest = tick_quotes(self.ctx, wake_on_ticks=False)
        if latest is None:
            raise ParamError(f"engine {self.ctx.name}: its tick ring keeps no latest-value "
                             "board (set latest = true on it): orders need the touch")
        self.latest: Quote = latest
        self.orders = one_writer(self.ctx, ORDER)
        issued, ids = issued_ids(self.ctx, self.orders, self.p.strategy_id)
        self.issued_v = issued.data
        blend = BlendParams(**{f.name: getattr(self.p, f.name) for f in fields(BlendParams)})
        n_symbols = max(len(self.ctx.symbols), 1)
        self.blend = Blend(n_symbols, blend, ids, use_signals=self.signals is not None)
        self.ledger = open_ledger(self.ctx, self.orders, self.p.strategy_id,
                                  self.blend.position, self.p.order_ttl_ms * 1_000_000)
        self.out = np.zeros(n_symbols, ORDER)
        self.lost_seen = 0
        self.log.info("research_strategy_started", strategy_id=self.p.strategy_id,
                      signals=self.signals is not None,
                      next_order_id=ids.base | (ids.counter + 1))

    def _touch(self, sym: int, _ts_ns: int) -> tuple[float, float] | None:
        """The symbol's touch now, from the board (live: an order prices at this moment)."""
        quote = self.latest(sym)
        return None if quote is None else BID_ASK_F.struct.unpack(quote)

    def poll(self) -> int:
        orders: list[OrderRow] = []
        n = self._take(self.features, self.blend.on_features, orders)
        if self.signals is not None:
            n += self._take(self.signals, self.blend.on_signals, orders)
        if orders:
            self._send(orders)
        self._count_lost()
        self.issued_v[0] = self.blend.ids.counter + IDS_RESERVE
        if self.ledger is not None and (n == 0 or self.ledger.backlog() >= 1_024):
            self.ledger.book()
        return n

    def _take(self, ring: RecordReader, on: Handler, orders: list[OrderRow]) -> int:
        batch = ring.read(self.p.max_batch)
        n = int(batch.shape[0])
        if n:
            before = self.blend.decisions
            on(batch, self._touch, time.time_ns(), orders)
            ring.advance(n)
            self.ctx.status.add(W_RECORDS_IN, n)
            self.ctx.status.add(W_DECISIONS, self.blend.decisions - before)
        return n

    def _count_lost(self) -> None:
        """Records an overwrite writer lapped before this engine read them."""
        lost = self.features.lost + (self.signals.lost if self.signals is not None else 0)
        if lost != self.lost_seen:
            self.ctx.status.add(W_DROPPED, lost - self.lost_seen)
            self.lost_seen = lost

    def _send(self, orders: list[OrderRow]) -> None:
        k = len(orders)
        if k > self.out.shape[0]:
            self.out = np.zeros(k, ORDER)
        write_orders(orders, self.out)
        published = k
        try:
            self.orders.write(self.out[:k], timeout_s=self.p.write_timeout_s)
        except RingFullError as exc:
            published = exc.published
            self.blend.undo(self.out[published:k])  # ids stay equal to ring positions
            self.ctx.status.add(W_ERRORS, 1)
        self.ctx.status.add(W_RECORDS_OUT, published)
        self.ctx.status.add(W_CUSTOM0, int(self.out["qty"][:published].sum()))  # quantity

    def on_stop(self) -> None:
        if self.ledger is not None:
            self.ledger.close()
        self.ticks.close()
        self.log.info("research_strategy_stopped", orders=self.ctx.status.get(W_RECORDS_OUT),
                      decisions=self.blend.decisions)
