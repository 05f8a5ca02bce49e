"""The FIX gateway engine: approved decisions and amendments out as FIX 4.4 orders to one
venue (an acceptor on TCP), its ExecutionReports back as reports on the fills ring.

Fail closed: while the session is not logged on nothing is sent, every new order is answered
FILL_REJECTED REASON_VENUE_DOWN and every amendment FILL_AMEND_REJECTED, and the engine's
ready flag is down. Each order id is sent once (a high-water mark per strategy in the state
dir, as execution keeps), each venue ExecID is reported once (engines.fix._execstore, in the
state dir: also across restarts).

Publish, then store: the number of the next FIX message expected reaches the state dir only
once what the messages before it reported is on the fills ring (a kill in between makes the
venue resend them, and their ExecIDs say which were booked). After every logon, the orders
sent and not over are asked for (OrderStatusRequest) and brought in line (engines.fix.
_recovery) before anything new is sent: till then decisions wait on their ring and the
gateway is not ready; a venue that does not answer in `status_timeout_s` has its session
dropped and tried again.

Operators: `cancel order_id=N`, `replace order_id=N qty=Q price=P` (as amendment requests on
the gateway's amends ring, which risk decides like any other) and `orders [open=true]`, as
service methods (`nautilusctl call <gateway> cancel order_id=N`, `nautilusctl orders`).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from engines.base import Engine
from engines.execution import AMEND_READ, DECISION_READ, fill_records, operator
from engines.fix import _messages as fixmsg
from engines.fix._execstore import ExecStore, digest
from engines.fix._recovery import FINAL, missing_reports
from engines.fix._seqstore import SeqStore
from engines.fix._session import FixSession, FixSessionError
from engines.params import param, parse_params
from engines.persist import StateFile
from engines.records import COUNTER_BITS, COUNTER_MASK
from engines.service import ServiceServer, service_endpoint
from engines.venue import SESSION_INTERVAL_S, SESSION_TOPIC
from engines.wiring import one_reader, one_writer, readers_of
from shm.layout import (
    AMEND,
    AMEND_CANCEL,
    AMEND_REPLACE,
    DECISION,
    FILL,
    FILL_AMEND_REJECTED,
    FILL_REJECTED,
    FILL_REPLACED,
    LIQUIDITY_TAKER,
    REASON_VENUE_DOWN,
    VERDICT_APPROVED,
)
from shm.status import W_CUSTOM0, W_READY, W_RECORDS_IN, W_RECORDS_OUT

# five custom words a status slot: what status answers added goes to the log
W_SENT, W_DOWN_REJECTED, W_DUP_REPORTS, W_SESSIONS, W_STATUS_ASKED = range(W_CUSTOM0,
                                                                           W_CUSTOM0 + 5)
D = DECISION_READ
ORDERS_KEPT = 4_096  # decisions looked at on start for the orders a report may name
FILLS_TAIL = 16_384  # reports looked at on start for the orders still open
STATE_NAMES = {1: "partially_filled", 2: "filled", 3: "cancelled", 4: "rejected",
               5: "expired", 6: "accepted", 7: "replaced", 8: "amend_rejected"}


@dataclass(frozen=True, kw_only=True, slots=True)
class FixGatewayParams:
    host: str = "127.0.0.1"
    port: int = param(9878, min=1, max=65535)
    sender_comp_id: str = "NAUTILUSD"
    target_comp_id: str = "VENUE"
    heartbeat_s: int = param(30, unit="s", min=1)
    reconnect_ms: float = param(200.0, unit="ms", min=0)
    status_timeout_s: float = param(5.0, unit="s", min=0.1)
    max_strategies: int = 64
    max_batch: int = 1_024


class FixGatewayEngine(Engine):
    """Reads decisions (and amendments), writes reports, speaks FIX to one venue."""

    counters = ("sent", "venue_down_rejected", "duplicate_reports", "sessions",
                "status_requests")
    params_spec = FixGatewayParams

    def on_start(self) -> None:
        self.p = parse_params(FixGatewayParams, self.ctx.params,
                              f"engines.{self.ctx.name}.params")
        self.decisions = one_reader(self.ctx, DECISION)
        self.amend_rings = readers_of(self.ctx, AMEND, required=False)
        self.amend_out = one_writer(self.ctx, AMEND, required=False)  # operators' requests
        self.fills = one_writer(self.ctx, FILL)
        self.marks = StateFile(self.ctx.state, f"{self.ctx.name}.hwm",
                               {"high_water": ("<i8", self.p.max_strategies)})
        self.store = SeqStore(self.ctx.state, f"{self.ctx.name}.fixseq", deferred_in=True)
        self.execs = ExecStore(self.ctx.state, f"{self.ctx.name}.execids")
        self.execs.load(self._published)
        self.session = FixSession(self.p.sender_comp_id, self.p.target_comp_id, self.store,
                                  heartbeat_s=self.p.heartbeat_s)
        self.sock: socket.socket | None = None
        self.next_connect = 0.0
        self.orders: dict[int, tuple[Any, ...]] = {}  # order id -> its decision row
        self.open: dict[int, int] = {}  # order id sent, not over -> quantity reported traded
        self.last: dict[int, tuple[int, int, int, float]] = {}  # -> status, traded, leaves, px
        self._orders_from_history()
        self.asked: dict[int, float] = {}  # status asked after this logon, not answered yet
        self.asked_at: float | None = None
        self.recovered = False  # this logon's status answers are all in: trading
        self.exec_id = self.fills.cursor
        self.rows: list[tuple[Any, ...]] = []
        self.row_execs: list[tuple[int, int]] = []  # (row index, ExecID digest)
        self.words = self.ctx.status.words
        self.pub = self.ctx.publisher()
        self.next_announce = 0.0
        self.operator_ids = operator.OperatorIds.after(
            [] if self.amend_out is None else
            self.amend_out.history(self.amend_out.cursor - 1024)[1]["amend_id"].tolist())
        self.service = ServiceServer(service_endpoint(self.ctx.runtime_dir, self.ctx.name), {
            "orders": self._svc_orders, "cancel": self._svc_cancel,
            "replace": self._svc_replace})
        self._connect()

    def _published(self, pos: int, order_id: int, exec_id: int) -> bool:
        """Is the fills ring's record at `pos` the report (order_id, exec_id)?"""
        if not 0 <= pos < self.fills.cursor:
            return False
        _, rec = self.fills.history(pos, pos + 1)
        return bool(rec.shape[0] == 1 and int(rec["order_id"][0]) == order_id
                    and int(rec["exec_id"][0]) == exec_id)

    def _orders_from_history(self) -> None:
        """The decisions still on the ring before this start (a restart): the reports of
        orders sent by the previous process carry their symbol, side and times too; those
        sent (under the marks) with no final report in the fills ring's tail are open."""
        ring = self.decisions
        _, done = ring.history(ring.cursor - ORDERS_KEPT, ring.cursor + ring.available())
        marks = self.marks.arrays["high_water"]
        start, tail = self.fills.history(self.fills.cursor - FILLS_TAIL)
        since = int(tail["ts_ns"][0]) if start > 0 and tail.shape[0] else 0
        for row in D.struct.iter_unpack(np.ascontiguousarray(done).view(np.uint8).data):
            sid = row[D.strategy_id]
            if row[D.verdict] != VERDICT_APPROVED or sid >= len(marks):
                continue
            self.orders[row[D.order_id]] = row
            if row[D.order_id] & COUNTER_MASK <= marks[sid] and row[D.decided_ts_ns] >= since:
                self.open[row[D.order_id]] = 0
        for oid, status, qty, leaves, px in zip(
                tail["order_id"].tolist(), tail["status"].tolist(), tail["qty"].tolist(),
                tail["leaves_qty"].tolist(), tail["price"].tolist(), strict=True):
            self._track(oid, status, qty, leaves, px)

    def _track(self, oid: int, status: int, qty: int, leaves: int, px: float) -> None:
        """Follow one report of an order: open or over, traded so far, last state."""
        if status in FINAL:
            self.open.pop(oid, None)
        elif oid in self.open:
            self.open[oid] += qty
        _, traded, _, old_px = self.last.get(oid, (0, 0, 0, 0.0))
        if status != FILL_AMEND_REJECTED:
            self.last[oid] = (status, traded + qty, leaves, px if qty or
                              status == FILL_REPLACED else old_px)
        if len(self.last) > 2 * ORDERS_KEPT:  # bounded: the oldest orders go first
            for old in list(self.last)[:ORDERS_KEPT]:
                if old not in self.open:
                    del self.last[old]

    # -- transport -------------------------------------------------------------------------
    def _connect(self) -> None:
        self.next_connect = time.monotonic() + self.p.reconnect_ms / 1000
        try:
            sock = socket.create_connection((self.p.host, self.p.port), timeout=0.5)
        except OSError as e:
            self.log.debug("fix_connect_failed", host=self.p.host, port=self.p.port, why=str(e))
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.recovered, self.asked_at = False, None
        self.asked.clear()
        self.session.logon(reset=self.store.lost)
        self._flush()
        self.words[W_SESSIONS] += 1

    def _drop(self, why: str) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.session.disconnected()
        self.recovered, self.asked_at = False, None
        self.asked.clear()
        self.ctx.status.set_ready(False)
        self.log.warning("fix_session_down", why=why)

    def _flush(self) -> None:
        out, self.session.outbox = b"".join(self.session.outbox), []
        if out and self.sock is not None:
            try:
                self.sock.setblocking(True)
                self.sock.sendall(out)
                self.sock.setblocking(False)
            except OSError as e:
                self._drop(f"send: {e}")

    def _receive(self, sock: socket.socket) -> int:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return 0
        except OSError as e:
            self._drop(f"recv: {e}")
            return 0
        if not data:
            self._drop("closed by the venue")
            return 0
        try:
            msgs = self.session.on_bytes(data)
        except FixSessionError as e:
            self._drop(str(e))
            return 0
        for msg in msgs:
            self._on_report(msg)
        return len(msgs) or 1

    # -- engine ----------------------------------------------------------------------------
    @property
    def trading(self) -> bool:
        """Logged on and the open orders reconciled: new orders and amendments go out."""
        return self.session.up and self.recovered

    def poll(self) -> int:
        n = self.service.serve()
        if self.sock is None and time.monotonic() >= self.next_connect:
            self._connect()
        if self.sock is not None:
            n += self._receive(self.sock)
        if self.session.up and not self.recovered:
            self._recover()
        up = self.trading
        if self.words[W_READY] != up or time.monotonic() >= self.next_announce:
            self.ctx.status.set_ready(up)
            self._announce(up)
        if up or not self.session.up:  # while reconciling, decisions wait on their ring
            n += self._send_decisions()
            for ring in self.amend_rings:
                n += self._send_amends(ring)
        if self.sock is not None:
            if not self.session.on_timer():
                self._drop("heartbeat: the venue did not answer a TestRequest")
            self._flush()
        self._publish()
        return n

    def _publish(self) -> None:
        """The reports on the fills ring, their ExecIDs kept, then the FIX number stored."""
        if self.rows:
            pos, execs = self.fills.cursor, self.execs
            for i, key in self.row_execs:
                execs.add(key, pos + i, self.rows[i][0], self.rows[i][1])
            self.fills.write(fill_records(self.rows))
            execs.commit()
            self.words[W_RECORDS_OUT] += len(self.rows)
            self.rows.clear()
            self.row_execs.clear()
        self.store.commit_in()

    def _recover(self) -> None:
        """Ask for every open order once after a logon; trading once all are answered; a
        venue silent past status_timeout_s loses its session (tried again)."""
        now = time.monotonic()
        if self.asked_at is None:
            self.asked_at, symbols = now, self.ctx.symbols
            for oid in list(self.open):
                d = self.orders[oid]
                sym = symbols[d[D.symbol_id]] if d[D.symbol_id] < len(symbols) else "?"
                self.session.send_app("H", fixmsg.status_request(oid, sym, d[D.side]))
                self.asked[oid] = now
            self.words[W_STATUS_ASKED] += len(self.asked)
            if self.asked:
                self.log.info("fix_status_requested", orders=len(self.asked))
        if not self.asked:
            self.recovered, self.asked_at = True, None
            self.log.info("fix_recovered", open=len(self.open))
        elif now - self.asked_at > self.p.status_timeout_s:
            self._drop(f"no status answer for {len(self.asked)} open orders in "
                       f"{self.p.status_timeout_s} s")

    def _announce(self, up: bool) -> None:
        """The session state on the bus for risk (trading.venues.<name>): on every change
        and every second, so a silent gateway reads as down."""
        self.next_announce = time.monotonic() + SESSION_INTERVAL_S
        self.pub.publish(f"{SESSION_TOPIC}{self.ctx.name}", {"venue": self.ctx.name, "up": up})

    def _send_decisions(self) -> int:
        batch: np.ndarray = self.decisions.read(self.p.max_batch)
        k = int(batch.shape[0])
        if k == 0:
            return 0
        marks, symbols, now = self.marks.arrays["high_water"], self.ctx.symbols, time.time()
        for row in D.struct.iter_unpack(batch.view(np.uint8).data):
            sid, counter = row[D.strategy_id], row[D.order_id] & COUNTER_MASK
            if row[D.verdict] != VERDICT_APPROVED or sid >= len(marks) or counter <= marks[sid]:
                continue  # fail closed: unapproved or seen before, never sent
            marks[sid] = counter
            oid = row[D.order_id]
            self.orders[oid] = row
            if not self.trading:
                self.words[W_DOWN_REJECTED] += 1
                self._row(oid, FILL_REJECTED, REASON_VENUE_DOWN)
                continue
            sym = symbols[row[D.symbol_id]] if row[D.symbol_id] < len(symbols) else "?"
            self.open[oid] = 0
            self.session.send_app("D", fixmsg.new_order(
                oid, sym, row[D.side], row[D.type], row[D.tif], row[D.qty], row[D.price], now))
            self.words[W_SENT] += 1
        self.decisions.advance(k)
        self.words[W_RECORDS_IN] += k
        return k

    def _send_amends(self, ring: Any) -> int:
        batch: np.ndarray = ring.read(self.p.max_batch)
        k = int(batch.shape[0])
        if k == 0:
            return 0
        a, now, symbols = AMEND_READ, time.time(), self.ctx.symbols
        for row in a.struct.iter_unpack(batch.view(np.uint8).data):
            if row[a.verdict] != VERDICT_APPROVED or not self.trading:
                self._row(row[a.order_id], FILL_AMEND_REJECTED,
                          row[a.reason] or REASON_VENUE_DOWN)
                continue
            sym = symbols[row[a.symbol_id]] if row[a.symbol_id] < len(symbols) else "?"
            if row[a.action] == AMEND_CANCEL:
                pairs = fixmsg.cancel(row[a.amend_id], row[a.order_id], sym, row[a.side], now)
                self.session.send_app("F", pairs)
            else:
                pairs = fixmsg.replace(row[a.amend_id], row[a.order_id], sym, row[a.side],
                                       row[a.qty], row[a.price], now)
                self.session.send_app("G", pairs)
        ring.advance(k)
        return k

    def _on_report(self, msg: Any) -> None:
        answer = fixmsg.status_answer(msg)
        if answer is not None:
            self._on_status(answer)
            return
        rep = fixmsg.report(msg)
        if rep is None:
            return
        key = None if rep["exec_id"] is None else digest(rep["exec_id"])
        if key is not None and key in self.execs:
            self.words[W_DUP_REPORTS] += 1  # the same execution again: counted once
            return
        self._row(rep["order_id"], rep["status"], rep["reason"], rep["qty"], rep["price"],
                  rep["leaves"], key)

    def _on_status(self, answer: dict[str, Any]) -> None:
        """The venue's view of an order asked for after the logon: the reports it lacks."""
        oid = answer["order_id"]
        if self.asked.pop(oid, None) is None or oid not in self.open:
            return
        added = missing_reports(answer, self.open[oid])
        for status, reason, qty, price, leaves in added:
            self._row(oid, status, reason, qty, price, leaves)
        self.log.info("fix_order_status", order_id=oid, known=answer["known"],
                      over=answer["over"], cum=answer["cum"], reports_added=len(added))

    def _row(self, order_id: int, status: int, reason: int, qty: int = 0, price: float = 0.0,
             leaves: int = 0, exec_key: int | None = None) -> None:
        d = self.orders.get(order_id)
        self.exec_id += 1
        if d is None:
            row = (order_id, self.exec_id, order_id >> COUNTER_BITS, 0, 0, LIQUIDITY_TAKER,
                   status, reason, qty, price, leaves, time.time_ns(), 0, 0, 0, 0)
        else:
            row = (order_id, self.exec_id, d[D.strategy_id], d[D.symbol_id], d[D.side],
                   LIQUIDITY_TAKER, status, reason, qty, price, leaves, time.time_ns(),
                   d[D.origin_seq], d[D.origin_ts_ns], d[D.ts_ns], d[D.decided_ts_ns])
        if exec_key is not None:
            self.row_execs.append((len(self.rows), exec_key))
            self.execs.slot[exec_key] = -1  # seen: a second one in this batch is a duplicate
        self.rows.append(row)
        self._track(order_id, status, qty, leaves, price)

    # -- operators -------------------------------------------------------------------------
    def _svc_orders(self, open: bool = False) -> list[dict[str, Any]]:
        """The orders this gateway knows (sent since the decisions it holds), newest last."""
        out, symbols = [], self.ctx.symbols
        for oid, (status, traded, leaves, px) in self.last.items():
            if open and oid not in self.open:
                continue
            d = self.orders.get(oid)
            sym = d[D.symbol_id] if d is not None else -1
            out.append(operator.entry(
                oid, STATE_NAMES.get(status, str(status)), self.ctx.name,
                symbol=symbols[sym] if 0 <= sym < len(symbols) else "?",
                side=d[D.side] if d is not None else 0, qty=d[D.qty] if d is not None else 0,
                price=px, filled=traded, leaves=leaves, is_open=oid in self.open))
        return out

    def _svc_cancel(self, order_id: int) -> dict[str, Any]:
        return self._amend_request(order_id, AMEND_CANCEL, 0, 0.0)

    def _svc_replace(self, order_id: int, qty: int, price: float) -> dict[str, Any]:
        return self._amend_request(order_id, AMEND_REPLACE, int(qty), float(price))

    def _amend_request(self, order_id: int, action: int, qty: int, price: float
                       ) -> dict[str, Any]:
        """An operator's cancel or replace as a request on the amends ring: risk decides it
        (a cancel always passes), then it comes back here like a strategy's (ids and
        replies: engines.execution.operator)."""
        operator.check_ring(self.amend_out, self.ctx.name, action)
        order_id = int(order_id)
        d = self.orders.get(order_id)
        if d is None or order_id not in self.open:
            raise operator.not_open(operator.verb_of(action), order_id, self.ctx.name,
                                    f"open: {len(self.open)}")
        return operator.request(self.amend_out, self.operator_ids, action,
                                (order_id, d[D.strategy_id], d[D.symbol_id], d[D.side]),
                                qty, price)

    def wait_handles(self) -> list[Any]:
        return [self.service.socket]

    def next_wakeup_s(self) -> float | None:
        return 0.001 if self.sock is not None else self.p.reconnect_ms / 1000

    def on_stop(self) -> None:
        self._publish()
        if self.sock is not None and self.session.up:
            self.session.logout()
            self._flush()
        if self.sock is not None:
            self.sock.close()
        self.service.close()
        self.marks.flush()
        self.execs.flush()
        self.store.flush()
