"""The strategy engine: ticks in batches -> mean-reversion signal -> its own orders ring.

Order ids are strategy_id << 40 | counter, and the counter is the orders ring's published
cursor: one id per record ever published, so a restarted strategy continues past every id.
Its own position comes from the fills ring (engines.strategy._fills), kept in the state dir.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from engines.base import Engine
from engines.errors import StateError
from engines.params import param, parse_params
from engines.persist import StateFile
from engines.strategy._fills import OwnPosition, filled_from_journal, own_layout
from engines.strategy._signal import (
    ORDER_WRITTEN,
    SMALL_BATCH,
    TICK_READ,
    MeanReversion,
    OrderIds,
    SignalParams,
    write_orders,
)
from engines.wiring import one_reader, one_writer, quiet
from shm.errors import RingFullError
from shm.layout import FILL, ORDER, TICK
from shm.status import W_CUSTOM0, W_DROPPED, W_ERRORS, W_RECORDS_IN, W_RECORDS_OUT

IDS_RESERVE = 1 << 16  # more orders than one poll sends (max_batch ticks, one order each)
EXPIRE_EVERY = 64  # bookings between two looks for orders past their time to live
BOOK_BACKLOG = 1_024  # orders or fills waiting that a poll with ticks books (else idle does)
IDLE_EXPIRE_EVERY = 4_096  # idle looks with nothing to book between two such looks
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
        issued = StateFile(self.ctx.state, f"{self.ctx.name}.ids",
                           {"offset": ("<i8", 1), "issued": ("<i8", 1)})
        if issued.lost:  # new ids could repeat ones risk has decided: refuse, do not guess
            self.ctx.state.unlink(issued.path.name)  # the next start must not find zeros
            raise StateError(issued.path, f"order ids {issued.status.value} after a ready "
                             "start: ids issued before are unknown; restore the file or clear "
                             "the state dir deliberately")
        self.issued = issued.arrays
        if self.orders.cursor == 0:
            self.issued["offset"][0] = self.issued["issued"][0]
        ids = OrderIds(self.p.strategy_id,
                       last_counter=int(self.issued["offset"][0]) + self.orders.cursor)
        self.issued_v = self.issued["issued"].data
        self.signal = MeanReversion(max(len(self.ctx.symbols), 1), signal, ids)
        self._own_position()
        self.out = np.zeros(max(len(self.ctx.symbols), 1), ORDER)
        self.n_out = self.out.shape[0]
        self.words = self.ctx.status.words  # counters as int64 words (cheaper than methods)
        self.lost_seen = self.ticks.lost
        self.log.info("strategy_started", strategy_id=self.p.strategy_id,
                      next_order_id=ids.base | (ids.counter + 1))

    def _own_position(self) -> None:
        """The filled position from `<name>.position`. A new ring set (a daemon start: what
        was read and never journaled went with the rings) or a file lost after a ready start
        takes the journal's fills instead; lost with no journal, the strategy refuses to
        start (it would size on a position it made up)."""
        self.fills = one_reader(self.ctx, FILL, required=False)
        if self.fills is None:
            self.own = None
            self.log.warning("strategy_position_from_orders",
                             why="no fills ring: the position counts every order sent")
            return
        quiet(self.ctx, self.fills)  # booked when ticks come: fills never wake the strategy
        n_symbols = self.signal.position.shape[0]
        saved = StateFile(self.ctx.state, f"{self.ctx.name}.position", own_layout(n_symbols))
        fresh = self.orders.cursor == 0  # a new ring set: the journal is the whole story
        if saved.lost or fresh:
            rebuilt = filled_from_journal(self.ctx.state, self.p.strategy_id, n_symbols)
            if rebuilt is None and not saved.lost:
                rebuilt = saved.arrays["filled"].copy()  # no journal: the file's own
            if rebuilt is None:
                self.ctx.state.unlink(saved.path.name)  # lost again at the next start
                raise StateError(saved.path, f"position {saved.status.value} after a ready "
                                 "start and no journal to rebuild it from")
            saved.arrays["filled"][:] = rebuilt
            self.log.info("strategy_position_reconciled", lost=saved.lost,
                          filled=rebuilt.tolist())
        if self.orders.cursor == 0:
            saved.arrays["fills_pos"][0] = self.fills.cursor
        self.own = OwnPosition(self.p.strategy_id, self.signal.position, saved.arrays,
                               self.p.order_ttl_ms * 1_000_000)
        self.saved_position = saved
        self.registered = self.orders.cursor  # orders before this one are not followed
        self.polls = 0
        self.idle_looks = 0

    def _book(self) -> None:
        """Off the order path (when idle, or after a tick's order is out): follow the orders
        published since the last look, book the fills come since, now and then expire the
        late ones. A fill that came since the last look is booked after the next tick is
        decided, not before: the order it belongs to counts in flight until then."""
        own, orders, fills = self.own, self.orders, self.fills
        if own is None or fills is None:
            return
        if orders.cursor == self.registered and not fills.available():
            self.idle_looks += 1  # a quiet market still expires what got no report
            if self.idle_looks % IDLE_EXPIRE_EVERY == 0:
                own.expire(time.time_ns())
            return
        if orders.cursor > self.registered:
            first, sent = orders.history(self.registered)
            own.sent_batch(sent)
            self.registered = first + sent.shape[0]
        if fills.available():
            batch: np.ndarray = fills.read(4_096)
            own.book(batch, fills.cursor)
            fills.advance(batch.shape[0])
        self.polls += 1
        if self.polls % EXPIRE_EVERY == 0:
            own.expire(time.time_ns())

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
        if self.fills is not None and max(self.orders.cursor - self.registered,
                                          self.fills.available()) >= BOOK_BACKLOG:
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
        if self.own is not None and self.fills is not None:
            self._book()
            self.saved_position.flush()
            self.fills.close()
        self.log.info("strategy_stopped", orders=self.ctx.status.get(W_RECORDS_OUT),
                      last_order_id=self.signal.ids.base | self.signal.ids.counter)
