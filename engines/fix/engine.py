"""The FIX gateway engine: approved decisions and amendments out as FIX 4.4 orders to one
venue (an acceptor on TCP), its ExecutionReports back as reports on the fills ring.

Fail closed: while the session is not logged on nothing is sent, every new order is answered
FILL_REJECTED REASON_VENUE_DOWN and every amendment FILL_AMEND_REJECTED, and the engine's
ready flag is down. Each order id is sent once (a high-water mark per strategy in the state
dir, as execution keeps), each venue ExecID is reported once (PossDup resends are dropped).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from engines.base import Engine
from engines.execution import AMEND_READ, DECISION_READ, fill_records
from engines.fix import _messages as fixmsg
from engines.fix._seqstore import SeqStore
from engines.fix._session import FixSession, FixSessionError
from engines.params import param, parse_params
from engines.persist import StateFile
from engines.records import COUNTER_BITS, COUNTER_MASK
from engines.venue import SESSION_INTERVAL_S, SESSION_TOPIC
from engines.wiring import one_reader, one_writer, readers_of
from shm.layout import (
    AMEND,
    AMEND_CANCEL,
    DECISION,
    FILL,
    FILL_AMEND_REJECTED,
    FILL_REJECTED,
    LIQUIDITY_TAKER,
    REASON_VENUE_DOWN,
    VERDICT_APPROVED,
)
from shm.status import W_CUSTOM0, W_READY, W_RECORDS_IN, W_RECORDS_OUT

W_SENT, W_DOWN_REJECTED, W_DUP_REPORTS, W_SESSIONS = range(W_CUSTOM0, W_CUSTOM0 + 4)
D = DECISION_READ
ORDERS_KEPT = 4_096  # decisions looked at on start for the orders a report may name


@dataclass(frozen=True, kw_only=True, slots=True)
class FixGatewayParams:
    host: str = "127.0.0.1"
    port: int = param(9878, min=1, max=65535)
    sender_comp_id: str = "NAUTILUSD"
    target_comp_id: str = "VENUE"
    heartbeat_s: int = param(30, unit="s", min=1)
    reconnect_ms: float = param(200.0, unit="ms", min=0)
    max_strategies: int = 64
    max_batch: int = 1_024


class FixGatewayEngine(Engine):
    """Reads decisions (and amendments), writes reports, speaks FIX to one venue."""

    counters = ("sent", "venue_down_rejected", "duplicate_reports", "sessions")
    params_spec = FixGatewayParams

    def on_start(self) -> None:
        self.p = parse_params(FixGatewayParams, self.ctx.params,
                              f"engines.{self.ctx.name}.params")
        self.decisions = one_reader(self.ctx, DECISION)
        self.amend_rings = readers_of(self.ctx, AMEND, required=False)
        self.fills = one_writer(self.ctx, FILL)
        self.marks = StateFile(self.ctx.state, f"{self.ctx.name}.hwm",
                               {"high_water": ("<i8", self.p.max_strategies)})
        self.store = SeqStore(self.ctx.state, f"{self.ctx.name}.fixseq")
        self.session = FixSession(self.p.sender_comp_id, self.p.target_comp_id, self.store,
                                  heartbeat_s=self.p.heartbeat_s)
        self.sock: socket.socket | None = None
        self.next_connect = 0.0
        self.orders: dict[int, tuple[Any, ...]] = {}  # order id -> its decision row
        self._orders_from_history()
        self.exec_seen: set[str] = set()
        self.exec_id = self.fills.cursor
        self.rows: list[tuple[Any, ...]] = []
        self.words = self.ctx.status.words
        self.pub = self.ctx.publisher()
        self.next_announce = 0.0
        self._connect()

    def _orders_from_history(self) -> None:
        """The decisions still on the ring before this start (a restart): the reports of
        orders sent by the previous process carry their symbol, side and times too."""
        _, done = self.decisions.history(self.decisions.cursor - ORDERS_KEPT)
        for row in D.struct.iter_unpack(done.view(np.uint8).data):
            if row[D.verdict] == VERDICT_APPROVED:
                self.orders[row[D.order_id]] = row

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
        self.session.logon(reset=self.store.lost)
        self._flush()
        self.words[W_SESSIONS] += 1

    def _drop(self, why: str) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.session.disconnected()
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
    def poll(self) -> int:
        n = 0
        if self.sock is None and time.monotonic() >= self.next_connect:
            self._connect()
        if self.sock is not None:
            n += self._receive(self.sock)
        up = self.session.up
        if self.words[W_READY] != up or time.monotonic() >= self.next_announce:
            self.ctx.status.set_ready(up)
            self._announce(up)
        n += self._send_decisions()
        for ring in self.amend_rings:
            n += self._send_amends(ring)
        if self.sock is not None:
            if not self.session.on_timer():
                self._drop("heartbeat: the venue did not answer a TestRequest")
            self._flush()
        if self.rows:
            self.fills.write(fill_records(self.rows))
            self.words[W_RECORDS_OUT] += len(self.rows)
            self.rows.clear()
        return n

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
            if not self.session.up:
                self.words[W_DOWN_REJECTED] += 1
                self._row(oid, FILL_REJECTED, REASON_VENUE_DOWN)
                continue
            sym = symbols[row[D.symbol_id]] if row[D.symbol_id] < len(symbols) else "?"
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
            if row[a.verdict] != VERDICT_APPROVED or not self.session.up:
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
        rep = fixmsg.report(msg)
        if rep is None:
            return
        if rep["exec_id"] is not None:
            if rep["exec_id"] in self.exec_seen:
                self.words[W_DUP_REPORTS] += 1  # the same execution again: counted once
                return
            self.exec_seen.add(rep["exec_id"])
        self._row(rep["order_id"], rep["status"], rep["reason"], rep["qty"], rep["price"],
                  rep["leaves"])

    def _row(self, order_id: int, status: int, reason: int, qty: int = 0, price: float = 0.0,
             leaves: int = 0) -> None:
        d = self.orders.get(order_id)
        self.exec_id += 1
        if d is None:
            row = (order_id, self.exec_id, order_id >> COUNTER_BITS, 0, 0, LIQUIDITY_TAKER,
                   status, reason, qty, price, leaves, time.time_ns(), 0, 0, 0, 0)
        else:
            row = (order_id, self.exec_id, d[D.strategy_id], d[D.symbol_id], d[D.side],
                   LIQUIDITY_TAKER, status, reason, qty, price, leaves, time.time_ns(),
                   d[D.origin_seq], d[D.origin_ts_ns], d[D.ts_ns], d[D.decided_ts_ns])
        self.rows.append(row)

    def next_wakeup_s(self) -> float | None:
        return 0.001 if self.sock is not None else self.p.reconnect_ms / 1000

    def on_stop(self) -> None:
        if self.sock is not None and self.session.up:
            self.session.logout()
            self._flush()
        if self.sock is not None:
            self.sock.close()
        self.marks.flush()
        self.store.flush()
