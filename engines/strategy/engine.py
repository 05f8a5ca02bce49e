"""The strategy engine: ticks in batches -> mean-reversion signal -> its own orders ring.

Order ids are strategy_id << 40 | counter, and the counter is the orders ring's published
cursor: one id per record ever published, so a restarted strategy continues past every id.
Its own position comes from the fills ring (engines.strategy._ledger), kept in the state dir.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from engines.base import Engine
from engines.params import param, parse_params
from engines.strategy._ledger import issued_ids, open_ledger
from engines.strategy._signal import (
    ORDER_WRITTEN,
    SMALL_BATCH,
    TICK_READ,
    MeanReversion,
    SignalParams,
    write_orders,
)
from engines.wiring import one_reader, one_writer
from shm.errors import RingFullError
from shm.layout import ORDER, TICK
from shm.status import W_CUSTOM0, W_DROPPED, W_ERRORS, W_RECORDS_IN, W_RECORDS_OUT

IDS_RESERVE = 1 << 16  # more orders than one poll sends (max_batch ticks, one order each)
BOOK_BACKLOG = 1_024  # orders or fills waiting that a poll with ticks books (else idle does)
_QTY = ORDER_WRITTEN.qty  # an order's quantity in its ORDER_WRITTEN tuple


@dataclass(frozen=True, kw_only=True, slots=True)
class StrategyParams(SignalParams):
    max_batch: int = param(4_096, unit="ticks", min=1)  # ticks taken per poll
    # a full orders ring for longer drops the batch (counted)
    write_timeout_s: float = param(0.5, unit="s", min=0)


class StrategyEngine(Engine):
    """Reads the ticks ring, writes orders; see engines._signal for the signal itself."""

    counters = ("quantity_sent",)
    params_spec = StrategyParams

    def on_start(self) -> None:
        self.p = parse_params(StrategyParams, self.ctx.params,
                              f"engines.{self.ctx.name}.params")
        self.ticks = one_reader(self.ctx, TICK)
        self.orders = one_writer(self.ctx, ORDER)
        signal = SignalParams(**{f.name: getattr(self.p, f.name)
                                 for f in dataclasses.fields(SignalParams)})
        # Ids are offset + ring position; a new ring (a daemon restart, a reboot) starts past
        # every id this strategy ever issued, kept in the state dir as each order goes out.
        issued, ids = issued_ids(self.ctx, self.orders, self.p.strategy_id)
        self.issued_v = issued.data
        self.signal = MeanReversion(max(len(self.ctx.symbols), 1), signal, ids)
        self.ledger = open_ledger(self.ctx, self.orders, self.p.strategy_id,
                                  self.signal.position, self.p.order_ttl_ms * 1_000_000)
        if self.ledger is None:
            self.log.warning("strategy_position_from_orders",
                             why="no fills ring: the position counts every order sent")
        self.out = np.zeros(max(len(self.ctx.symbols), 1), ORDER)
        self.n_out = self.out.shape[0]
        self.words = self.ctx.status.words  # counters as int64 words (cheaper than methods)
        self.lost_seen = self.ticks.lost
        self.log.info("strategy_started", strategy_id=self.p.strategy_id,
                      next_order_id=ids.base | (ids.counter + 1))

    def _book(self) -> None:
        """Off the order path (when idle, or after a tick's order is out): what the orders
        became. A fill that came since the last look is booked after the next tick is
        decided, not before: the order it belongs to counts in flight until then."""
        if self.ledger is not None:
            self.ledger.book()

    def poll(self) -> int:
        n = self.ticks.available()
        if n == 0:
            self._book()  # idle: what the last orders became, before the next tick comes
            return 0
        if n == 1:  # the commonest case when the feed is paced
            n = self._poll_one()
        else:
            n = self._poll_small(n) if n <= SMALL_BATCH else self._poll_batch()
        # Past anything a poll can publish before this store: a SIGKILL between a publish and
        # here never lets a later session reuse an id.
        self.issued_v[0] = self.signal.ids.counter + IDS_RESERVE
        lost = self.ticks.lost
        if lost != self.lost_seen:
            self.ctx.status.add(W_DROPPED, lost - self.lost_seen)
            self.lost_seen = lost
        if self.ledger is not None and self.ledger.backlog() >= BOOK_BACKLOG:
            self._book()  # never idle: book before the rings wrap or the fills ring fills
        return n

    def _poll_one(self) -> int:
        """One tick, its order (if any) packed straight into the ring: no numpy, no list."""
        record = self.ticks.read_one()  # overwrite ring: a checked copy, consumed when returned
        if record is None:
            return 0
        signal, words = self.signal, self.words
        words[W_RECORDS_IN] += 1
        kernel = signal.kernel
        if kernel is not None:  # compiled: the order's bytes straight from the tick's
            ids = signal.ids
            qty = kernel.on_tick(record, time.time_ns(), ids.counter)
            if qty:
                ids.counter += 1
                self._publish_one(signal.order_buf, qty)
            return 1
        order = signal.on_row(TICK_READ.struct.unpack(record), time.time_ns())
        if order is not None:
            self._publish_one(ORDER_WRITTEN.struct.pack(*order), order[_QTY])
        return 1

    def _publish_one(self, order: bytes | bytearray, qty: int) -> None:
        if self.orders.write_bytes(order):
            words = self.words
            words[W_RECORDS_OUT] += 1
            words[W_CUSTOM0] += qty  # quantity sent
        else:  # the ring is full: wait for room (or give up) as the batch path does
            self.out[0] = np.frombuffer(order, ORDER)[0]
            self._send(1)

    def _poll_small(self, n: int) -> int:
        """A few ticks as tuples, orders packed straight into the ring: no numpy per tick."""
        read_one, unpack = self.ticks.read_one, TICK_READ.struct.unpack
        rows = []
        for _ in range(n):
            record = read_one()
            if record is None:
                break
            rows.append(unpack(record))
        if not rows:
            return 0
        n = len(rows)
        orders = self.signal.on_rows(rows, time.time_ns(), self.n_out)
        words = self.words
        words[W_RECORDS_IN] += n
        if orders:
            if self.orders.has_room(len(orders)):
                write, pack = self.orders.write_bytes, ORDER_WRITTEN.struct.pack
                for order in orders:
                    write(pack(*order))
                words[W_RECORDS_OUT] += len(orders)
                words[W_CUSTOM0] += sum(order[_QTY] for order in orders)  # quantity sent
            else:  # the ring is short: wait for room (or give up) as the batch path does
                write_orders(orders, self.out)
                self._send(len(orders))
        return n

    def _poll_batch(self) -> int:
        ticks = self.ticks.read(self.p.max_batch)
        n: int = ticks.shape[0]
        if n == 0:
            return 0
        k = self.signal.on_ticks(ticks, self.out, time.time_ns())
        self.ticks.advance(n)
        self.ctx.status.add(W_RECORDS_IN, n)
        if k:
            self._send(k)
        return n

    def _send(self, k: int) -> None:
        try:
            self.orders.write(self.out[:k], timeout_s=self.p.write_timeout_s)
        except RingFullError:
            # Give the ids back so ids stay equal to ring positions; the orders never existed.
            self.signal.undo(self.out[:k])
            self.ctx.status.add(W_ERRORS, 1)
            return
        self.ctx.status.add(W_RECORDS_OUT, k)
        self.ctx.status.add(W_CUSTOM0, int(self.out["qty"][:k].sum()))  # quantity sent

    def on_stop(self) -> None:
        if self.ledger is not None:
            self.ledger.close()
        self.log.info("strategy_stopped", orders=self.ctx.status.get(W_RECORDS_OUT),
                      last_order_id=self.signal.ids.base | self.signal.ids.counter)
