"""The risk engine: pre-trade checks on every order ring, decisions to one ring, alerts.

Batches are checked vectorised (engines.risk._checks); the kill switch is engaged by the
`risk.kill_switch` service request or by the P&L drawdown limit. Nothing passes while down.
Limits hold on real exposure: risk reads the fills ring (engines.risk._exposure), so an
approved order stays reserved until its fills and its completion say what it became.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import zmq

from engines.base import Engine
from engines.compiled import CHECK, build
from engines.journal import has_journal
from engines.params import param, parse_params, truth
from engines.persist import StateFile
from engines.records import BID_ASK_F, COUNTER_MASK, DECISION_SUFFIX_F, Fields
from engines.risk._amend import decide_amends
from engines.risk._budgets import BUDGET_MODES, BUDGETS_OFF, FAR_FUTURE_NS, RiskBudgets
from engines.risk._checks import (
    KILL_REASONS,
    KILL_STATE_LOST,
    KILL_VENUE_DOWN,
    SMALL_BATCH,
    TICK_MID,
    RiskLimits,
    RiskState,
    decide,
    state_layout,
)
from engines.risk._dedupe import DecidedIds
from engines.risk._exposure import APPROVED, FILL_BOOKED, OpenOrders, open_layout
from engines.risk._reconcile import reconcile_from_journal
from engines.risk._venues import TOPIC as VENUES_TOPIC
from engines.risk._venues import VenueWatch, venue_names
from engines.service import ServiceServer, service_endpoint
from engines.wiring import Every, no_ticks, one_reader, one_writer, readers_of, tick_quotes
from shm import layout
from shm.layout import (
    AMEND,
    DECISION,
    FILL,
    ORDER,
    REASON_STALE,
    VERDICT_APPROVED,
    VERDICT_REJECTED,
)
from shm.status import W_CUSTOM0, W_RECORDS_IN, W_RECORDS_OUT

REASON_NAMES = {v: k[len("REASON_"):].lower() for k, v in vars(layout).items()
                if k.startswith("REASON_")}
W_REJECTED = W_CUSTOM0
W_KILLED = W_CUSTOM0 + 1
W_DUPLICATES = W_CUSTOM0 + 2
W_ACCEPTED = W_CUSTOM0 + 3  # approved decisions since this spawn
W_STALE = W_CUSTOM0 + 4  # rejected as older than their time to live (also in W_REJECTED)
NO_REASONS = np.zeros(0, dtype=np.intp)
HOUSEKEEPING_NS = 5_000_000
# Under orders that never stop (a runaway strategy: when an operator reaches for the kill
# switch) housekeeping is not left to an idle poll that never comes: this long after the
# last, the runner has it run between two busy polls (Engine.overdue_ns). A paced flow has
# idle polls and never gets that late.
OVERDUE_NS = 25_000_000
# A gap this long between two idle polls means the runner waited (a park, or the core was
# taken): whatever woke it may be on the bus. Back-to-back idle polls are much closer.
WOKEN_NS = 2_000
FAR_FUTURE = 1 << 62
# What the one-order path reads of an order: its id and the checked fields.
ORDER_CHECKED = Fields(ORDER, ("order_id", "strategy_id", "symbol_id", "side", "ttl_ms", "qty",
                               "price", "ts_ns"))


@dataclass(frozen=True, kw_only=True, slots=True)
class RiskParams(RiskLimits):
    max_batch: int = param(4_096, unit="orders", min=1)
    # alerts per reason are summed over this window
    alert_interval_s: float = param(1.0, unit="s", min=0)
    pnl_topic: str = "trading.positions.all"
    # False: ticks do not wake risk; each order's quote comes from the tick ring's latest-value
    # board when it has one, else the ticks are read when orders come (and every 5 ms).
    wake_on_ticks: bool = False
    # Venue gateways (engine names, comma-separated) whose session must be up for any order
    # to pass: while one is down (or silent past venue_timeout_s) the switch is engaged with
    # the reason venue_down, and released when every one is up again. "": none watched.
    venues: str = ""
    venue_timeout_s: float = param(3.0, unit="s", min=0.1)
    # approved orders followed until their fills complete them; past this many open at once
    # an order stays reserved until the next new ring set (safe, counted as untracked)
    max_open_orders: int = param(8_192, unit="orders", min=1)
    max_fills_batch: int = param(1_024, unit="fills", min=1)
    # Per-strategy budgets from the portfolio engine (engines.risk._budgets): "required"
    # rejects every order of a strategy without a budget in force no older than max age.
    budgets: str = param(BUDGETS_OFF, choices=BUDGET_MODES)
    budget_topic: str = "portfolio.budgets"
    budget_max_age_s: float = param(30.0, unit="s", min=0.01)


def _check_kernel(state: RiskState, decided: DecidedIds, out: bytearray) -> Any:
    """Risk's compiled one-order path over `state` and the marks, or None."""
    lim, b = state.limits, state.budgets
    return build(CHECK, "check", state.last_mid, state.book, state._flags, state.rate_bucket,
                 state.rate_count, decided.high_water, out, state.n_symbols,
                 lim.max_strategies, state.band, lim.max_order_qty, float(lim.max_notional),
                 lim.max_orders_per_s, lim.max_position, lim.max_gross,
                 lim.order_ttl_ms * 1_000_000, *((b.book, b.gross, b.limit) if b is not None
                                                 else (None, None, None)))


class RiskEngine(Engine):
    """Reads ticks and every order ring; writes decisions; publishes `risk.alerts.*`."""

    # W_REJECTED, W_KILLED, W_DUPLICATES, W_ACCEPTED, W_STALE
    counters = ("rejected", "kill_switch_engaged", "duplicates", "accepted", "stale")
    params_spec = RiskParams

    def on_start(self) -> None:
        self.p = parse_params(RiskParams, self.ctx.params,
                              f"engines.{self.ctx.name}.params")
        limits = RiskLimits(**{f.name: getattr(self.p, f.name)
                               for f in dataclasses.fields(RiskLimits)})
        # With a board, an order's mid is looked up as it is checked: no tick is read at all.
        self.ticks, self.latest = tick_quotes(self.ctx, self.p.wake_on_ticks)
        self.read_ticks = self._read_ticks if self.latest is None else no_ticks
        self.order_rings = readers_of(self.ctx, ORDER)
        self.decisions = one_writer(self.ctx, DECISION)
        # Cancels and replaces, when the topology carries them: decided onto their own ring.
        self.amend_rings = readers_of(self.ctx, AMEND, required=False)
        self.amend_decisions = one_writer(self.ctx, AMEND, required=bool(self.amend_rings))
        self.max_batch = min(self.p.max_batch, self.decisions.capacity)  # one claim per batch
        # Filled positions, open orders, rate buckets, decided marks and the kill switch
        # survive every stop (the state dir); lost or mismatched state comes back engaged
        # (state_lost).
        n_symbols = max(len(self.ctx.symbols), 1)
        self.saved = StateFile(self.ctx.state, f"{self.ctx.name}.state",
                               state_layout(n_symbols, limits) | {
                                   "pnl_peak": ("<f8", 1),
                                   "decided": ("<i8", limits.max_strategies),
                                   "fills_pos": ("<i8", 1)}
                               | open_layout(self.p.max_open_orders))
        self.budgets = None if self.p.budgets == BUDGETS_OFF else RiskBudgets(
            self.ctx, self.p.budget_topic, self.p.budget_max_age_s, n_symbols,
            limits.max_strategies, self.log)
        self.budgets_due_ns = FAR_FUTURE_NS if self.budgets is None else self.budgets.due_ns
        self.state = RiskState(n_symbols, limits, self.saved.arrays,
                               None if self.budgets is None else self.budgets.book)
        self._fail_closed_if_lost()
        self.default_ttl_ns = limits.order_ttl_ms * 1_000_000
        self.decided = DecidedIds(self.saved.arrays["decided"])
        self._follow_fills()
        # The slot is zeroed on every spawn: an engaged switch restored from the state file
        # must show as engaged, never as a silent 0.
        self.ctx.status.put(W_KILLED, 1 if self.state.killed else 0)
        self.rejected = np.zeros(max(REASON_NAMES) + 1, dtype=np.int64)
        self.rejected_v = self.rejected.data
        # Rejections per reason: `rejected` is the current alert window, folded into
        # `rejected_total` (since this spawn) and kept as `rejected_last` when it is flushed.
        self.rejected_total = np.zeros_like(self.rejected)
        self.rejected_last = np.zeros_like(self.rejected)
        self.stale_before = 0  # rejected_total[REASON_STALE]: W_STALE is this + the window's
        self.buf = bytearray(DECISION.itemsize)  # one decision for RingWriter.write_bytes
        self.words = self.ctx.status.words
        self.alert_timer = Every(self.p.alert_interval_s)
        # Bus and service sockets are looked at every few ms, never between a tick and an order.
        self.housekeeping_ns = time.monotonic_ns() + HOUSEKEEPING_NS
        self.overdue_ns = self.housekeeping_ns + OVERDUE_NS
        self.idle_since_ns = FAR_FUTURE  # end of the last idle poll; FAR_FUTURE after work
        self.check = self.state.check_fields
        # The compiled one-order path (engines/risk/_kernel.c) over the same arrays, or None.
        self.kernel = _check_kernel(self.state, self.decided, self.buf)
        self.pnl_sub = self.ctx.subscriber([self.p.pnl_topic])
        names = venue_names(self.p.venues)
        self.venue_watch = VenueWatch(names, self.p.venue_timeout_s) if names else None
        self.venue_sub = self.ctx.subscriber([VENUES_TOPIC]) if names else None
        self.pub = self.ctx.publisher()  # connected now: the first alert must not be lost
        self.service = ServiceServer(
            service_endpoint(self.ctx.runtime_dir, self.ctx.name),
            {"risk.kill_switch": self._kill_switch, "risk.status": self._status})
        if self.venue_watch is not None:  # nothing heard yet: no venue is up (fail closed)
            self._watch_venues(self.venue_watch)

    def _follow_fills(self) -> None:
        """The fills reader and the open-order table. A new ring set (no decision published
        yet) has no order open anywhere: every reservation is given back. Without a fills ring
        risk cannot see what an order became: an approval is booked as filled at once (the
        exposure of everything ever approved), and it says so."""
        self.fills = one_reader(self.ctx, FILL, required=False)
        self.opens = OpenOrders(self.state, self.saved.arrays)
        self.fills_pos = self.saved.arrays["fills_pos"]
        published = 0 if self.fills is None else self.fills.cursor + self.fills.available()
        self.reconciled: dict[str, Any] = {}
        if self.decisions.cursor == 0 or int(self.fills_pos[0]) > published:
            self.opens.clear()
            self.fills_pos[0] = 0 if self.fills is None else self.fills.cursor
            if self.decisions.cursor == 0 and has_journal(self.ctx.state):
                self.reconciled = reconcile_from_journal(self.ctx.state, self.state,
                                                         self.order_rings, self.decisions,
                                                         self.decided)
                self.log.info("risk_reconciled", **self.reconciled)
        if self.fills is None:
            self.log.warning("risk_exposure_from_approvals",
                             why="no fills ring: approvals are booked as filled")

    def _fail_closed_if_lost(self) -> None:
        """A state file that does not match, or that is missing once this state dir has seen
        a ready daemon, means what risk knew is gone: engage until an operator releases."""
        lost = self.saved if self.saved.lost else (
            self.budgets.saved if self.budgets is not None and self.budgets.lost else None)
        if lost is not None:
            self.state.kill_code = KILL_STATE_LOST
            self.saved.flush()
            self.log.error("risk_state_lost", status=lost.status.value, path=str(lost.path))

    def poll(self) -> int:
        n_ticks = self.read_ticks()  # board mode: nothing to read (0)
        done = 0
        fills = self.fills
        if fills is not None and fills.available():
            done += self._book_fills(fills)
        for ring in self.order_rings:
            n = ring.available()
            if n == 0:
                continue
            if n <= SMALL_BATCH and self.decisions.has_room(n):
                done += self._decide_small(ring, n)
            else:
                done += self._decide(ring)
        if self.amend_rings:
            done += self._decide_amends()
        if done:
            self.idle_since_ns = FAR_FUTURE
            return done + n_ticks
        # Idle. The bus and service sockets are looked at when the housekeeping timer is due,
        # or when the runner waited since the last idle poll: a P&L snapshot or a service
        # request may be what woke it, and it would wake it again until served.
        now = time.monotonic_ns()
        if self.latest is not None:
            self.ticks.skip_to_end()  # never read: keep the slot's lag at zero, off the path
        if now >= self.housekeeping_ns:
            self.housekeeping_ns = now + HOUSEKEEPING_NS
            self._housekeeping()
            now = time.monotonic_ns()
        elif now - self.idle_since_ns > WOKEN_NS:
            if self._bus_ready():
                self._housekeeping()
            now = time.monotonic_ns()
        self.idle_since_ns = now
        return n_ticks

    def _book_fills(self, fills: Any) -> int:
        """Book a batch of fills into the exposure; each record once, also across a crash
        between booking and the cursor's move (`fills_pos` is the next one to book)."""
        batch: np.ndarray = fills.read(self.p.max_fills_batch)
        n = int(batch.shape[0])
        start, pos = fills.cursor, self.fills_pos
        skip = max(int(pos[0]) - start, 0)
        if skip < n:
            on_fill = self.opens.on_fill
            for k, row in enumerate(FILL_BOOKED.struct.iter_unpack(
                    batch[skip:].view(np.uint8).data), start + skip + 1):
                on_fill(row[0], row[1], row[2], row[3], row[4], row[5])
                pos[0] = k
        fills.advance(n)
        return n

    def _approved(self, decision: bytes | bytearray | memoryview) -> None:
        """An approved order, once its decision is out: follow it until it completes (or,
        with no fills ring, book it as filled at once)."""
        if self.fills is not None:
            self.opens.approve_record(decision, self.default_ttl_ns)
        else:
            oid, sym, side, _tif, _ttl, qty, _ts = APPROVED.struct.unpack_from(decision)
            self.state.book_fill(sym, side, qty, qty, oid)

    def _mids_from_board(self) -> None:
        """Every symbol's mid from the board (before a vectorised batch)."""
        latest, mids, unpack = self.latest, self.state.mid_v, BID_ASK_F.struct.unpack
        for sym in range(self.state.n_symbols):
            quote = latest(sym)  # type: ignore[misc]
            if quote is not None:
                bid, ask = unpack(quote)
                mids[sym] = (bid + ask) * 0.5

    def _read_ticks(self) -> int:
        """Remember the last mid per symbol (read_one finds an empty ring cheaper than
        available()); more than a few ticks at once go as one batch."""
        ticks, n_symbols, mids = self.ticks, self.state.n_symbols, self.state.mid_v
        record = ticks.read_one()
        if record is None:
            return 0
        read_one, unpack = ticks.read_one, TICK_MID.struct.unpack
        while True:  # RiskState.on_tick_row, inlined
            sym, bid, ask = unpack(record)
            if sym < n_symbols:
                mids[sym] = (bid + ask) * 0.5
            n: int = ticks.available()
            if n == 0:
                return 1
            if n > SMALL_BATCH:
                break
            for _ in range(n):
                record = read_one()
                if record is None:
                    break
                sym, bid, ask = unpack(record)
                if sym < n_symbols:
                    mids[sym] = (bid + ask) * 0.5
            return 1 + n
        batch: np.ndarray = ticks.read(self.p.max_batch)
        self.state.on_ticks(batch)
        ticks.advance(batch.shape[0])
        return 1 + int(batch.shape[0])

    def _decide_small(self, ring: Any, n: int) -> int:
        """A few orders, each decided and published from its bytes: no numpy per order.

        Each order is lent by read_one() until the next one is read, so a crash re-reads at
        most the order in hand; its mark in `decided` then keeps it from a second decision."""
        if self.kernel is not None:
            return self._decide_small_compiled(ring, n)
        read_one, unpack = ring.read_one, ORDER_CHECKED.struct.unpack
        decided, check = self.decided, self.check
        buf, write, pack = self.buf, self.decisions.write_bytes, DECISION_SUFFIX_F.struct.pack_into
        marks, n_marks = decided.marks, decided.size  # DecidedIds.seen/mark, inlined
        latest, mids, mid_of = self.latest, self.state.mid_v, BID_ASK_F.struct.unpack
        n_symbols, order_size = self.state.n_symbols, ORDER.itemsize
        now, out, rejected = time.time_ns(), 0, 0
        if now >= self.budgets_due_ns:
            self._refresh_budgets(now)
        default_ttl_ns = self.p.order_ttl_ms * 1_000_000
        for _ in range(n):
            record = read_one()
            if record is None:
                break
            oid, strat, sym, side, ttl, qty, price, ts = unpack(record)
            counter = oid & COUNTER_MASK
            known = strat < n_marks
            if known and counter <= marks[strat]:
                decided.duplicates += 1
                continue
            if latest is not None and sym < n_symbols and (quote := latest(sym)) is not None:
                bid, ask = mid_of(quote)  # this symbol's quote, now
                mids[sym] = (bid + ask) * 0.5
            if now - ts > (ttl * 1_000_000 if ttl else default_ttl_ns):  # _checks.ttl_ns
                code = REASON_STALE
            else:
                code = check(strat, sym, side, qty, price, ts)
            buf[:order_size] = record
            pack(buf, order_size, VERDICT_REJECTED if code else VERDICT_APPROVED, code, now)
            write(buf)
            if known:
                marks[strat] = counter  # ids only grow: this order is the new high-water mark
            out += 1
            if code:
                self.rejected_v[code] += 1
                rejected += 1
            else:
                self._approved(buf)
        return self._count_small(n, out, rejected)

    def _decide_small_compiled(self, ring: Any, n: int) -> int:
        """_decide_small through the kernel: the DECISION's bytes straight from the order's,
        the same checks, marks and counts (commit() marks an order once it is published)."""
        read_one, write, buf = ring.read_one, self.decisions.write_bytes, self.buf
        decide, commit, latest = self.kernel.decide, self.kernel.commit, self.latest
        now, out, rejected, duplicates = time.time_ns(), 0, 0, 0
        if now >= self.budgets_due_ns:  # a budget expires: its limit word says so first
            self._refresh_budgets(now)
        for _ in range(n):
            record = read_one()
            if record is None:
                break
            code = decide(record, latest, now)
            if code < 0:
                duplicates += 1
                continue
            write(buf)
            commit()
            out += 1
            if code:
                self.rejected_v[code] += 1
                rejected += 1
            else:
                self._approved(buf)
        self.decided.duplicates += duplicates
        return self._count_small(n, out, rejected)

    def _count_small(self, n: int, out: int, rejected: int) -> int:
        """The status counters after a one-by-one pass over `n` orders; returns n."""
        words = self.words
        words[W_RECORDS_IN] += n
        words[W_RECORDS_OUT] += out
        words[W_DUPLICATES] = self.decided.duplicates
        words[W_ACCEPTED] += out - rejected
        if rejected:
            words[W_REJECTED] += rejected
            words[W_STALE] = self.stale_before + self.rejected_v[REASON_STALE]
        return n

    def _decide_amends(self) -> int:
        """Every amendment waiting, decided (engines.risk._amend) and written; committed once
        written. A re-read after a crash decides one again: execution applies it once."""
        done = 0
        for ring in self.amend_rings:
            if not ring.available():  # the common case: one cursor look, no read
                continue
            batch: np.ndarray = ring.read(self.max_batch)
            k = int(batch.shape[0])
            if self.latest is not None:
                self._mids_from_board()
            decided, rejected = decide_amends(self.state, batch, time.time_ns())
            self.amend_decisions.write(decided)  # type: ignore[union-attr]
            ring.advance(k)
            for code in rejected:
                self.rejected_v[code] += 1
            words = self.words
            words[W_RECORDS_IN] += k
            words[W_RECORDS_OUT] += k
            words[W_REJECTED] += len(rejected)
            done += k
        return done

    def _decide(self, ring: Any) -> int:
        orders: np.ndarray = ring.read(self.max_batch)
        n = int(orders.shape[0])
        if n == 0:
            return 0
        if self.latest is not None:
            self._mids_from_board()
        rejected = self._decide_batch(orders)
        ring.advance(n)
        status = self.ctx.status
        status.add(W_RECORDS_IN, n)
        status.put(W_DUPLICATES, self.decided.duplicates)
        if rejected.size:
            self.rejected += np.bincount(rejected, minlength=self.rejected.size)
            status.add(W_REJECTED, int(rejected.size))
            status.put(W_STALE, self.stale_before + int(self.rejected[REASON_STALE]))
        return n

    def _decide_batch(self, orders: np.ndarray) -> np.ndarray:
        """A batch (checked one by one when small, else vectorised), written with one claim;
        returns the reasons of the rejected ones."""
        fresh = self.decided.fresh(orders)
        if fresh.shape[0] == 0:
            return NO_REASONS
        now = time.time_ns()
        if now >= self.budgets_due_ns:
            self._refresh_budgets(now)
        out = self.decisions.claim(fresh.shape[0])
        reason = decide(self.state, fresh, out, now)
        self.decisions.publish()
        self.decided.record(fresh)
        approved = reason == 0
        if approved.any():
            if self.fills is not None:
                self.opens.approve_batch(out, approved, self.default_ttl_ns)
            else:  # booked as filled at once (see _approved)
                rows = np.ascontiguousarray(out[approved])
                for oid, sym, side, _tif, _ttl, qty, _ts in APPROVED.struct.iter_unpack(
                        rows.view(np.uint8).data):
                    self.state.book_fill(sym, side, qty, qty, oid)
        rejected: np.ndarray = reason[reason != 0]
        self.ctx.status.add(W_RECORDS_OUT, fresh.shape[0])
        self.ctx.status.add(W_ACCEPTED, fresh.shape[0] - rejected.size)
        return rejected

    def on_overdue(self, now_ns: int) -> None:
        """Orders at every poll for OVERDUE_NS: housekeeping between two of them."""
        self.housekeeping_ns = now_ns + HOUSEKEEPING_NS
        self._housekeeping()

    def _housekeeping(self) -> None:
        """Off the hot path: drawdown from P&L snapshots, service requests, alerts."""
        self.overdue_ns = time.monotonic_ns() + OVERDUE_NS
        while (msg := self.pnl_sub.recv(0)) is not None:
            self._on_pnl(msg[1])
        if self.venue_watch is not None:
            self._watch_venues(self.venue_watch)
        if self.fills is not None:
            while self.fills.available():
                self._book_fills(self.fills)
            self.opens.expire(time.time_ns())
        if self.budgets is not None:
            self._refresh_budgets(time.time_ns())
        self.service.serve()
        if self.alert_timer.due(time.monotonic_ns()):
            self._flush_alerts()

    def _refresh_budgets(self, now_ns: int) -> None:
        """Budget messages applied and stale budgets expired (before any order past `now_ns`)."""
        self.budgets_due_ns = self.budgets.refresh(now_ns)  # type: ignore[union-attr]

    def _watch_venues(self, watch: VenueWatch) -> None:
        """Engage (venue_down) while a watched venue is not up; release once all are, unless
        something else engaged the switch."""
        while (msg := self.venue_sub.recv(0)) is not None:  # type: ignore[union-attr]
            watch.on_message(msg[1])
        down = watch.down()
        if down and not self.state.killed:
            self.state.kill_code = KILL_VENUE_DOWN
            self.saved.flush()
            self.ctx.status.put(W_KILLED, 1)
            self.log.warning("kill_switch_engaged", why=f"venue down: {', '.join(down)}")
            self.pub.publish("risk.alerts.kill_switch", {"engine": self.ctx.name,
                                                         "engaged": True, "why": "venue_down",
                                                         "venues": down})
        elif not down and self.state.kill_code == KILL_VENUE_DOWN:
            self.state.kill_code = 0
            self.saved.flush()
            self.ctx.status.put(W_KILLED, 0)
            self.log.warning("kill_switch_released", why="every watched venue is up")
            self.pub.publish("risk.alerts.kill_switch", {"engine": self.ctx.name,
                                                         "engaged": False})

    @property
    def pnl_peak(self) -> float:
        return float(self.saved.arrays["pnl_peak"][0])

    def _on_pnl(self, snapshot: dict) -> None:  # type: ignore[type-arg]
        pnl = float(snapshot.get("pnl", 0.0))
        self.saved.arrays["pnl_peak"][0] = max(self.pnl_peak, pnl)
        drawdown = self.pnl_peak - pnl
        if drawdown > self.p.max_drawdown and not self.state.killed:
            self._engage(f"drawdown {drawdown:.2f} over limit {self.p.max_drawdown:.2f}")

    def _engage(self, why: str) -> None:
        self.state.killed = True
        self.saved.flush()  # an engaged switch is durable before anyone is told
        self.ctx.status.put(W_KILLED, 1)
        self.log.warning("kill_switch_engaged", why=why)
        self.pub.publish("risk.alerts.kill_switch",
                                     {"engine": self.ctx.name, "engaged": True, "why": why})

    def _kill_switch(self, engage: object = True, why: str = "operator request") -> dict:  # type: ignore[type-arg]
        """args {"engage": true|false|yes|no|on|off|1|0, "why": "..."} -> the switch's state
        after the request; any other `engage` is an error naming it (BAD_ARGS)."""
        engage = truth(engage, "engage")
        if engage and not self.state.killed:
            self._engage(why)
        elif not engage and self.state.killed:
            self.state.killed = False
            self.saved.flush()
            self.ctx.status.put(W_KILLED, 0)
            self.log.warning("kill_switch_released", why=why)
            self.pub.publish("risk.alerts.kill_switch",
                                         {"engine": self.ctx.name, "engaged": False})
        return {"killed": self.state.killed}

    def _status(self) -> dict:  # type: ignore[type-arg]
        """Rejections by reason since this spawn (`rejected`), in the last full alert window
        (`rejected_last_interval`, `interval_s` long) and in the one under way."""
        return {"killed": self.state.killed, "kill_reason": KILL_REASONS[self.state.kill_code],
                "gross": int(self.state.gross),
                "position": self.state.position.tolist(),  # filled, per symbol
                "open_buy": self.state.open_buy.tolist(),
                "open_sell": self.state.open_sell.tolist(),
                "open_orders": len(self.opens), "untracked_orders": self.opens.untracked,
                "exposure_from": "fills" if self.fills is not None else "approvals",
                "reconciled": self.reconciled,
                "pnl_peak": self.pnl_peak,
                "accepted": self.ctx.status.get(W_ACCEPTED),
                "rejected": _by_reason(self.rejected_total + self.rejected),
                "rejected_last_interval": _by_reason(self.rejected_last),
                "rejected_this_interval": _by_reason(self.rejected),
                "interval_s": self.p.alert_interval_s,
                "budgets": {"mode": BUDGETS_OFF} if self.budgets is None
                else self.budgets.status(time.time_ns())}

    def _flush_alerts(self) -> None:
        """One `risk.alerts.<reason>` per reason rejected in the window: its count and the
        reason's total since this spawn; then the window starts again."""
        self.rejected_total += self.rejected
        self.rejected_last[:] = self.rejected
        self.stale_before = int(self.rejected_total[REASON_STALE])
        if not self.rejected.any():
            return
        pub = self.pub
        for code in np.flatnonzero(self.rejected):
            name = REASON_NAMES.get(int(code), str(code))
            pub.publish(f"risk.alerts.{name}", {"engine": self.ctx.name, "reason": name,
                                                 "count": int(self.rejected[code]),
                                                 "total": int(self.rejected_total[code]),
                                                 "window_s": self.p.alert_interval_s})
        self.rejected[:] = 0

    def _bus_ready(self) -> bool:
        """A P&L snapshot or a service request is waiting (what woke an idle risk)."""
        return bool(self.pnl_sub.socket.getsockopt(zmq.EVENTS) & zmq.POLLIN
                    or self.service.socket.getsockopt(zmq.EVENTS) & zmq.POLLIN
                    or (self.budgets is not None
                        and self.budgets.sub.socket.getsockopt(zmq.EVENTS) & zmq.POLLIN)
                    or (self.venue_sub is not None
                        and self.venue_sub.socket.getsockopt(zmq.EVENTS) & zmq.POLLIN))

    def next_wakeup_s(self) -> float | None:
        # The bus and service sockets wake the runner themselves; a timer only for alerts.
        if any(self.rejected_v):
            return max(self.alert_timer.seconds_left(time.monotonic_ns()), 0.001)
        if len(self.opens) or self.venue_watch is not None:
            return 0.5  # an IOC order without completion expires by time; a venue goes silent
        return None

    def wait_handles(self) -> list[Any]:
        extra = [self.venue_sub.socket] if self.venue_sub is not None else []
        if self.budgets is not None:
            extra.append(self.budgets.sub.socket)
        return [self.pnl_sub.socket, self.service.socket, *extra]

    def on_stop(self) -> None:
        if self.fills is not None:  # execution stops first: what it reported last is booked
            while self.fills.available():
                self._book_fills(self.fills)
        self._flush_alerts()
        self.service.close()
        self.saved.flush()
        if self.budgets is not None:
            self.budgets.flush()
        if not self.p.wake_on_ticks:
            self.ticks.close()
        self.log.info("risk_stopped", decided=self.ctx.status.get(W_RECORDS_OUT),
                      rejected=self.ctx.status.get(W_REJECTED), killed=self.state.killed)


def _by_reason(counts: np.ndarray) -> dict[str, int]:
    """{reason name: count} of the reasons with a count."""
    return {REASON_NAMES.get(i, str(i)): int(c) for i, c in enumerate(counts) if c}
