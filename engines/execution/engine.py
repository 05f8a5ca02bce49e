"""The execution engine: order manager and simulated venue between decisions and fills.

Acts only on approved decisions (fail closed), once per order id, also across restarts: the
per-strategy high-water mark of accepted ids lives in a small file in the runtime dir. It moves,
and the decisions are committed, only once their fills are on the ring; at start the mark is
raised to the orders found in the tail of the fills ring (published just before a crash).

Operators (engines.execution._operator, shared with the FIX gateway): `orders [open=true]`
lists the orders of the fills ring's tail with their state, venue, filled and open quantity;
`cancel order_id=N` and `replace order_id=N qty=Q price=P` write an AMEND request with an
operator amend id on the amends ring execution writes, which risk decides like a strategy's.
Served when execution is about to wait (next_wakeup_s), at most every SERVICE_S, or under
decisions that never stop between two busy polls once OVERDUE_NS late (Engine.overdue_ns),
never between a decision and its fills; the socket is not among the idle wait's handles
(with one, the park is a zmq poll instead of the rings' select.poll, slower to wake).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from engines.base import Engine
from engines.execution import _operator as operator
from engines.execution._amends import AMEND_READ
from engines.execution._instruments import Instruments
from engines.execution._orders import (
    DECISION_READ,
    FILL_WRITTEN,
    FillRow,
    OrderManager,
    Quote,
    VenueParams,
    fill_records,
)
from engines.execution._routedvenues import routed_venues
from engines.execution._router import ROUTED_WRITTEN, Router
from engines.execution._routing import parse_routing, routing_problems
from engines.execution._simvenue import SimulatedVenue
from engines.journal import KIND_DECISION, KIND_FILL, has_journal, journal_records
from engines.params import parse_params
from engines.persist import StateFile
from engines.records import COUNTER_MASK, TOUCH_F, Fields
from engines.service import ServiceServer, service_endpoint
from engines.venue import SessionState
from engines.wiring import no_ticks, one_reader, one_writer, readers_of, tick_quotes
from shm.layout import (
    AMEND,
    AMEND_CANCEL,
    AMEND_REPLACE,
    DECISION,
    FILL,
    FILL_CANCELLED,
    FILL_EXPIRED,
    FILL_FILLED,
    FILL_REJECTED,
    TICK,
    VERDICT_APPROVED,
)
from shm.status import W_CUSTOM0, W_RECORDS_IN, W_RECORDS_OUT

W_DUPLICATES = W_CUSTOM0
W_IGNORED_REJECTED = W_CUSTOM0 + 1
W_FILLED_QTY = W_CUSTOM0 + 2
W_STALE = W_CUSTOM0 + 3  # approved orders refused as older than their time to live
W_FILLS = W_CUSTOM0 + 4  # fill records with a quantity (partial or full); records_out has all
FILLS_TAIL = 4_096  # fill records looked at on start: more than one batch can publish
SMALL_BATCH = 16  # up to this many records, tuples from struct beat numpy's per-call cost
FINAL = (FILL_FILLED, FILL_CANCELLED, FILL_EXPIRED, FILL_REJECTED)  # an order's last report
SERVICE_S = 0.05  # operators' requests are looked at this often while execution idles
OVERDUE_NS = 100_000_000  # since the last look: then between two busy polls (no idle comes)


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutionParams(VenueParams):
    max_batch: int = 1_024
    max_strategies: int = 64
    publish_executions: bool = True  # trading.executions.<strategy_id>, one message per batch
    # False: ticks do not wake execution; a decision's quote comes from the tick ring's
    # latest-value board when it has one, else the ticks are read when decisions come.
    wake_on_ticks: bool = False
    # Smart order routing (engines.execution._routing): the venues in order of preference,
    # and each one's table (kind, latency_us, display_fraction, taker_bps, maker_bps,
    # per_share). None: the one simulated venue above, no router on the path.
    route: list[str] | None = None
    venues: dict[str, Any] | None = None

    @staticmethod
    def param_checks(params: Mapping[str, Any], where: str) -> list[str]:
        return routing_problems(params.get("route"), params.get("venues"), where)


# Message field -> position in a FILL_WRITTEN tuple.
_EXECUTION_FIELDS = tuple((name, FILL_WRITTEN[name]) for name in (
    "order_id", "exec_id", "symbol_id", "side", "status", "reason", "qty", "price", "leaves_qty",
    "ts_ns", "origin_ts_ns", "order_ts_ns", "decided_ts_ns"))
TICK_QUOTE = Fields(TICK, ("symbol_id", "bid", "ask", "bid_size", "ask_size"))
_SYMBOL_ID, _STRATEGY_ID = DECISION_READ.symbol_id, DECISION_READ.strategy_id
_FILL_QTY, _FILL_STRATEGY_ID = FILL_WRITTEN.qty, FILL_WRITTEN.strategy_id
_ROUTED_FIELDS = tuple((name, ROUTED_WRITTEN[name]) for name, _ in _EXECUTION_FIELDS) + tuple(
    (name, ROUTED_WRITTEN[name]) for name in ("venue_id", "child"))
_UP = SessionState.UP


class ExecutionEngine(Engine):
    """Reads ticks and decisions, writes fills, publishes executions."""

    counters = ("duplicates", "ignored_rejected", "filled_qty", "stale", "fills")
    params_spec = ExecutionParams

    def on_start(self) -> None:
        self.p = parse_params(ExecutionParams, self.ctx.params,
                              f"engines.{self.ctx.name}.params")
        # With a board, the venue looks up the touch of each symbol it trades: no tick is read.
        self.ticks, self.latest = tick_quotes(self.ctx, self.p.wake_on_ticks)
        self.read_ticks = self._read_ticks if self.latest is None else no_ticks
        self.decisions = one_reader(self.ctx, DECISION)
        self.fills = one_writer(self.ctx, FILL)
        # Order ids never repeat across daemon restarts, so the marks are kept for good.
        self.hwm = StateFile(self.ctx.state, f"{self.ctx.name}.hwm",
                             {"high_water": ("<i8", self.p.max_strategies)})
        if self.hwm.lost:  # the fills ring still holds what was reported (catch-up below)
            self.log.error("execution_marks_lost", status=self.hwm.status.value,
                           path=str(self.hwm.path))
        # Orders are deduplicated on a copy (a list: Python ints in the one-decision path); the
        # file only learns of orders already reported.
        where = f"engines.{self.ctx.name}.params"
        self.om = OrderManager(self.p, self.hwm.arrays["high_water"].tolist(), Instruments.parse(
            self.ctx.symbols, self.p.tick_sizes, self.p.lot_sizes, where))
        # Amendments (cancel, replace) as risk decided them, when the topology has them.
        self.amend_rings = readers_of(self.ctx, AMEND, required=False)
        self.amend_marks = StateFile(self.ctx.state, f"{self.ctx.name}.amends",
                                     {"high_water": ("<i8", self.p.max_strategies)})
        self.om.amends.high_water = self.amend_marks.arrays["high_water"].tolist()
        # Operators' amend ids have marks of their own (engines.execution._operator).
        self.operator_marks = StateFile(self.ctx.state, f"{self.ctx.name}.opamends",
                                        {"high_water": ("<i8", self.p.max_strategies)})
        self.om.amends.operator_high_water = self.operator_marks.arrays["high_water"].tolist()
        self.amend_out = one_writer(self.ctx, AMEND, required=False)  # operators' requests
        self.operator_ids = operator.OperatorIds.after(
            [] if self.amend_out is None else
            self.amend_out.history(self.amend_out.cursor - 1024)[1]["amend_id"].tolist())
        self.service = ServiceServer(service_endpoint(self.ctx.runtime_dir, self.ctx.name), {
            "orders": self._svc_orders, "cancel": self._svc_cancel,
            "replace": self._svc_replace})
        self.serve_at = 0.0  # time.monotonic() of the next look at the service socket
        self.overdue_ns = time.monotonic_ns() + OVERDUE_NS
        self.hwm_v = self.hwm.arrays["high_water"].data
        self._catch_up_from_fills()
        self.om.exec_id = self.fills.cursor  # exec ids continue: one per fill record
        self.quotes: dict[int, Quote] = {}
        self.venue: SimulatedVenue | Router = SimulatedVenue(self.ctx.name, self.om, self.quotes)
        self.router: Router | None = None
        routed = parse_routing(self.p.route, self.p.venues, where)
        if routed:  # several venues: the router's poll; the one-venue path is left as it is
            self.venue = self.router = self.routed = Router(
                routed_venues(self.ctx, routed, self.p, self.quotes, where), self.om,
                self.quotes, self.latest)
            self.poll = self._poll_routed  # type: ignore[method-assign]
            self._write_fills = self._write_routed_fills  # type: ignore[method-assign]
        self.pending_fills: list[FillRow] = []
        self.buf = bytearray(FILL.itemsize)  # one packed fill for RingWriter.write_bytes
        self.words = self.ctx.status.words
        if self.decisions.cursor == 0 and self.fills.cursor == 0 and has_journal(self.ctx.state):
            self._reconcile_from_journal()
        self.log.info("execution_started", high_water=self.hwm.arrays["high_water"][:8].tolist())

    def poll(self) -> int:
        n: int = self.read_ticks()
        decisions, om, now = self.decisions, self.om, 0
        k: int = decisions.available()
        if k == 1:  # amends wait for the next poll: none is read between a decision and its fills
            return n + self._one_decision()
        if self.amend_rings:
            n += self._read_amends()
        if k:
            now, fills = time.time_ns(), self.pending_fills
            # Through the venue's gate only while its session is not up (then nothing is sent).
            on_decision = om.on_decision if self.venue.state is _UP else self.venue.send_new
            # Not committed until their fills are published: a crash before re-reads them.
            batch: np.ndarray = decisions.read(self.p.max_batch)
            k = int(batch.shape[0])
            for row in DECISION_READ.struct.iter_unpack(batch.view(np.uint8).data):
                on_decision(row, now, fills)
            self.words[W_RECORDS_IN] += k
        if om.pending or om.resting:
            if self.latest is not None:
                self._quotes_from_board()
            # The decisions' clock when there were any: an order judged young at `now` trades
            # at `now`, never a moment past its time to live.
            om.match(now if k else time.time_ns(), self.quotes, self.pending_fills)
        if self.pending_fills:
            self._write_fills()
        if k:
            self.hwm.arrays["high_water"][:] = om.high_water
            decisions.advance(k)
        elif self.latest is not None:
            self.ticks.skip_to_end()  # never read: keep the slot's lag at zero, off the path
        return n + k

    def _poll_routed(self) -> int:
        """poll() with a router: each decision routed as it comes, then the venues' timed
        work; committed as poll() commits, once the reports are on the fills ring."""
        n: int = self._read_amends() if self.amend_rings else 0
        n += self.read_ticks()
        decisions, router, fills = self.decisions, self.routed, self.pending_fills
        now = time.time_ns()
        batch: np.ndarray = decisions.read(self.p.max_batch)
        k = int(batch.shape[0])
        for row in DECISION_READ.struct.iter_unpack(batch.view(np.uint8).data):
            router.send_new(row, now, fills)
        if router.working():
            router.poll(now, fills)
        if fills:
            self._write_fills()
        if k:
            self.words[W_RECORDS_IN] += k
            self.hwm.arrays["high_water"][:] = self.om.high_water
            decisions.advance(k)
        elif self.latest is not None:
            self.ticks.skip_to_end()
        return n + k

    def _read_amends(self) -> int:
        """Apply every decided amendment waiting (off the new-order path: a topology without
        amend rings never comes here); committed once their reports are on the fills ring."""
        done, amends, now = 0, self.om.amends, time.time_ns()
        for ring in self.amend_rings:
            if not ring.available():  # the common case: one cursor look, no read
                continue
            batch: np.ndarray = ring.read(self.p.max_batch)
            k = int(batch.shape[0])
            if self.latest is not None:
                self._quotes_from_board()
            for row in AMEND_READ.struct.iter_unpack(batch.view(np.uint8).data):
                self.venue.send_amend(row, now, self.pending_fills)
            if self.pending_fills:
                self._write_fills()
            self.amend_marks.arrays["high_water"][:] = amends.high_water
            self.operator_marks.arrays["high_water"][:] = amends.operator_high_water
            ring.advance(k)
            self.words[W_RECORDS_IN] += k
            done += k
        return done

    def _one_decision(self) -> int:
        """The commonest poll, one decision: read from its bytes, traded at once when it can be
        (OrderManager.trade_now), its mark stored alone. read_one() lends the record until the
        next read, so it is committed only after its fills and its mark are stored."""
        record = self.decisions.read_one()
        if record is None:
            return 0
        row, now, om = DECISION_READ.struct.unpack(record), time.time_ns(), self.om
        latest, quotes, fills = self.latest, self.quotes, self.pending_fills
        if latest is not None and (quote := latest(symbol_id := row[_SYMBOL_ID])) is not None:
            quotes[symbol_id] = TOUCH_F.struct.unpack(quote)  # the touch, now
        if self.venue.state is not _UP:
            self.venue.send_new(row, now, fills)  # rejected REASON_VENUE_DOWN: never sent
        elif not om.trade_now(row, now, quotes, fills):
            om.on_decision(row, now, fills)
        if om.pending or om.resting:
            if latest is not None:
                self._quotes_from_board()
            om.match(now, quotes, fills)
        if fills:
            self._write_fills()
        strategy_id = row[_STRATEGY_ID]
        if strategy_id < len(self.hwm_v):
            self.hwm_v[strategy_id] = om.high_water[strategy_id]
        self.words[W_RECORDS_IN] += 1
        return 1

    def _reconcile_from_journal(self) -> None:
        """A new ring set: every order the journal has approved with no final report (its
        report, or the decision itself, went with the rings in a power cut) is completed
        now as FILL_EXPIRED (never traded from here on), before READY, so risk, positions
        and the strategy see it over and no approved order is left open."""
        records = journal_records(self.ctx.state)
        fills, decisions = records[KIND_FILL], records[KIND_DECISION]
        over = set(fills["order_id"][np.isin(fills["status"], list(FINAL))].tolist())
        # the decisions this ring set holds are traded as usual (risk decided them since)
        # (up to what is published: a reader's history stops at its own cursor, 0 here);
        # read after the journal, the ring holds every decision of it the journal has
        ring = self.decisions
        over.update(ring.history(0, ring.cursor + ring.available())[1]["order_id"].tolist())
        approved = decisions[decisions["verdict"] == VERDICT_APPROVED]
        open_ = approved[[oid not in over for oid in approved["order_id"].tolist()]]
        now, rows, marks = time.time_ns(), self.pending_fills, self.om.high_water
        for row in DECISION_READ.struct.iter_unpack(np.ascontiguousarray(open_).view(
                np.uint8).data):
            self.om._expire(row, now, rows)
            strategy_id = row[_STRATEGY_ID]
            if strategy_id < len(marks):  # never traded after this, should it come again
                marks[strategy_id] = max(int(marks[strategy_id]),
                                         row[DECISION_READ.order_id] & COUNTER_MASK)
        self.hwm.arrays["high_water"][:] = marks
        if rows:
            self._write_fills()
        self.log.info("execution_reconciled", records=int(fills.shape[0] + decisions.shape[0]),
                      expired=int(open_.shape[0]))

    def _catch_up_from_fills(self) -> None:
        """Raise the marks to every order found in the last fills published (a crash may have
        come after their fills and before the marks were stored)."""
        marks = self.om.high_water
        _, tail = self.fills.history(self.fills.cursor - FILLS_TAIL)
        for strategy_id, order_id in zip(tail["strategy_id"].tolist(),
                                         tail["order_id"].tolist(), strict=True):
            if strategy_id < len(marks):
                marks[strategy_id] = max(int(marks[strategy_id]), order_id & COUNTER_MASK)
        self.hwm.arrays["high_water"][:] = marks

    def _quotes_from_board(self) -> None:
        """The touch of every symbol with an order waiting (latency) or resting, from the
        board: those are the symbols match() trades."""
        latest, quotes, unpack, om = self.latest, self.quotes, TOUCH_F.struct.unpack, self.om
        symbols = {o.symbol_id for o in om.pending}
        symbols.update(o.symbol_id for o in om.resting.values())
        for sym in symbols:
            quote = latest(sym)  # type: ignore[misc]
            if quote is not None:
                quotes[sym] = unpack(quote)

    def _read_ticks(self) -> int:
        """Keep the last quote per symbol (read_one finds an empty ring cheaper than available)."""
        ticks, quotes = self.ticks, self.quotes
        record = ticks.read_one()
        if record is None:
            return 0
        read_one, unpack = ticks.read_one, TICK_QUOTE.struct.unpack
        s, bid, ask, bid_size, ask_size = unpack(record)
        quotes[s] = (bid, ask, bid_size, ask_size)
        record = read_one()
        if record is None:  # the commonest case: one tick since the last poll
            return 1
        s, bid, ask, bid_size, ask_size = unpack(record)
        quotes[s] = (bid, ask, bid_size, ask_size)
        n: int = ticks.available()
        if n < SMALL_BATCH:
            for _ in range(n):
                record = read_one()
                if record is None:
                    break
                s, bid, ask, bid_size, ask_size = unpack(record)
                quotes[s] = (bid, ask, bid_size, ask_size)
            return 2 + n
        batch: np.ndarray = ticks.read(4_096)
        n = int(batch.shape[0])
        # keep only the last tick per symbol before going to Python objects
        sym = batch["symbol_id"]
        last = np.full(int(sym.max()) + 1, -1, dtype=np.int64)
        last[sym] = np.arange(n)
        newest = batch[last[last >= 0]]  # a copy: contiguous
        for s, bid, ask, bid_size, ask_size in TICK_QUOTE.struct.iter_unpack(
                newest.view(np.uint8).data):
            quotes[s] = (bid, ask, bid_size, ask_size)
        ticks.advance(n)
        return 2 + n

    def _write_fills(self) -> None:
        rows, om = self.pending_fills, self.om
        k = len(rows)
        if k <= SMALL_BATCH:
            write, pack, buf = self.fills.write_bytes, FILL_WRITTEN.struct.pack_into, self.buf
            for i, row in enumerate(rows):
                pack(buf, 0, *row)  # into one reused buffer: no bytes object per fill
                if not write(buf):  # the ring is short: wait for room for the rest
                    self.fills.write(fill_records(rows[i:]))
                    break
            qty = 0
            for row in rows:
                qty += row[_FILL_QTY]
        else:
            fills = fill_records(rows)
            self.fills.write(fills)
            qty = int(fills["qty"].sum())
        words = self.words
        words[W_RECORDS_OUT] += k
        words[W_FILLED_QTY] += qty
        words[W_DUPLICATES] = om.duplicates
        words[W_IGNORED_REJECTED] = om.ignored_rejected
        words[W_STALE] = om.expired
        words[W_FILLS] = om.fills
        if self.p.publish_executions:
            self._publish(rows, om.take_order_prices())
        else:
            om.order_prices.clear()
        rows.clear()

    def _write_routed_fills(self) -> None:
        """_write_fills for a router's reports (ROUTED_WRITTEN rows: venue and child too)."""
        rows, om, words = self.pending_fills, self.om, self.words
        fills = fill_records(rows, ROUTED_WRITTEN)
        self.fills.write(fills)
        words[W_RECORDS_OUT] += len(rows)
        words[W_FILLED_QTY] += int(fills["qty"].sum())
        words[W_DUPLICATES], words[W_IGNORED_REJECTED] = om.duplicates, om.ignored_rejected
        words[W_STALE], words[W_FILLS] = om.expired, om.fills
        if self.p.publish_executions:
            self._publish(rows, om.take_order_prices(), ROUTED_WRITTEN.strategy_id,
                          _ROUTED_FIELDS)
        else:
            om.order_prices.clear()
        rows.clear()

    def _publish(self, rows: list[FillRow], prices: list[float], strategy: int = _FILL_STRATEGY_ID,
                 fields: tuple[tuple[str, int], ...] = _EXECUTION_FIELDS) -> None:
        """One `trading.executions.<strategy_id>` message per strategy in the batch."""
        pub = self.ctx.publisher()
        for strategy_id in sorted({row[strategy] for row in rows}):
            mine = [i for i, row in enumerate(rows) if row[strategy] == strategy_id]
            msg = {name: [rows[i][col] for i in mine] for name, col in fields}
            msg["order_price"] = [prices[i] for i in mine]
            pub.publish(f"trading.executions.{strategy_id}", msg)

    # -- operators (off the order path: served when execution is about to wait) ------------
    def _svc_orders(self, open: bool = False) -> list[dict[str, Any]]:
        """Every order of the fills ring's tail (and those waiting out the venue latency),
        oldest first: its state by the OMS state table, venue(s), filled and open quantity."""
        _, tail = self.fills.history(self.fills.cursor - self.fills.capacity)
        folds = operator.fold_reports(tail)
        live = self._open_orders()
        for oid, (_sid, sym, side, price) in live.items():
            if oid not in folds:
                folds[oid] = operator.ReportFold(sym, side)  # no report yet: NEW
            folds[oid].price = price  # a working order: its limit price
        names = {} if self.router is None else {
            v.config.venue_id: v.config.name for v in self.router.venues}
        symbols, out = self.ctx.symbols, []
        for oid, f in folds.items():
            is_open = oid in live
            if open and not is_open:
                continue
            row = operator.entry(
                oid, f.state.value, "+".join(names.get(v, str(v)) for v in f.venues)
                if f.venues else self.ctx.name,
                symbol=symbols[f.symbol_id] if 0 <= f.symbol_id < len(symbols) else "?",
                side=f.side, qty=f.qty, price=f.price, filled=f.filled,
                leaves=f.leaves, is_open=is_open)
            if self.router is not None:
                row["venues"] = [names.get(v, str(v)) for v in f.venues]
                row["parent"] = self.ctx.name
            out.append(row)
        return out

    def _open_orders(self) -> dict[int, tuple[int, int, int, float]]:
        """Open orders by id: (strategy_id, symbol_id, side, limit price)."""
        if self.router is not None:
            d = DECISION_READ
            return {oid: (p.row[d.strategy_id], p.row[d.symbol_id], p.row[d.side],
                          p.row[d.price]) for oid, p in self.router.parents.items()}
        om = self.om
        out = {o.order_id: (o.strategy_id, o.symbol_id, o.side, o.price) for o in om.pending}
        out.update((o.order_id, (o.strategy_id, o.symbol_id, o.side, o.price))
                   for o in om.resting.values())
        return out

    def _svc_cancel(self, order_id: int) -> dict[str, Any]:
        return self._amend_request(int(order_id), AMEND_CANCEL, 0, 0.0)

    def _svc_replace(self, order_id: int, qty: int, price: float) -> dict[str, Any]:
        return self._amend_request(int(order_id), AMEND_REPLACE, int(qty), float(price))

    def _amend_request(self, order_id: int, action: int, qty: int, price: float
                       ) -> dict[str, Any]:
        operator.check_ring(self.amend_out, self.ctx.name, action)
        live = self._open_orders()
        found = live.get(order_id)
        if found is None:
            _, tail = self.fills.history(self.fills.cursor - self.fills.capacity)
            fold = operator.fold_reports(tail).get(order_id)
            known = "unknown here" if fold is None else f"it is {fold.state.value}"
            raise operator.not_open(operator.verb_of(action), order_id, self.ctx.name,
                                    f"{known}; open: {len(live)}")
        return operator.request(self.amend_out, self.operator_ids, action,
                                (order_id, *found[:3]), qty, price)

    def next_wakeup_s(self) -> float | None:
        now = time.monotonic()
        if now >= self.serve_at:  # about to wait: nothing of the order path is in hand
            self._serve_operators()
            self.serve_at = now + SERVICE_S
        wakeup = self._venue_wakeup_s()
        left = self.serve_at - now
        return left if wakeup is None or wakeup > left else wakeup

    def on_overdue(self, now_ns: int) -> None:
        """Decisions at every poll for OVERDUE_NS: operators served between two of them."""
        self._serve_operators()

    def _serve_operators(self) -> None:
        self.service.serve()
        self.overdue_ns = time.monotonic_ns() + OVERDUE_NS

    def _venue_wakeup_s(self) -> float | None:
        if self.router is not None:
            return self.router.next_wakeup_s(time.time_ns())
        if self.om.resting:
            return 0.001  # resting orders trade on new ticks, which do not wake us
        return self.om.next_due_s(time.time_ns())

    def on_stop(self) -> None:
        deadline = time.monotonic() + 1.0
        while self.om.pending and time.monotonic() < deadline:  # let latency-delayed orders trade
            self.om.match(time.time_ns(), self.quotes, self.pending_fills)
            if self.pending_fills:
                self._write_fills()
        while self.router and self.router.pending() and time.monotonic() < deadline:
            self.router.poll(time.time_ns(), self.pending_fills)
            if self.pending_fills:
                self._write_fills()
        self.log.info("execution_stopped", fills=self.ctx.status.get(W_RECORDS_OUT),
                      duplicates=self.om.duplicates, ignored_rejected=self.om.ignored_rejected,
                      **({} if self.router is None else {
                          "children_routed": self.router.children_routed,
                          "children_rerouted": self.router.children_rerouted}))
        self.hwm.flush()
        self.amend_marks.flush()
        self.operator_marks.flush()
        self.service.close()
        if not self.p.wake_on_ticks:
            self.ticks.close()
