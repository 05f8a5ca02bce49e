"""A venue gateway engine behind the router (the FIX gateway, engines.fix): child orders out
as DECISION records on a ring the gateway reads as its decisions, its reports back from the
ring it writes as its fills, its session as it announces it on the bus.

Fail closed: the venue is up only while the gateway's last word under
trading.venues.<engine> was up and fresher than `session_timeout_s` (nothing heard is down),
and a child that finds the orders ring full is refused REASON_VENUE_DOWN (re-routed). A
gateway takes each strategy's order ids in increasing order only (its marks), so a parent
older than the newest one sent there is never offered to it (`accepts`).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import numpy as np

from engines.execution._orders import DECISION_READ, FILL_WRITTEN, FillRow, OrderManager
from engines.records import COUNTER_MASK
from engines.rings import RecordReader, RecordWriter
from engines.venue import SESSION_TOPIC, Row, SessionState
from shm.layout import (
    DECISION,
    FILL_ACCEPTED,
    FILL_AMEND_REJECTED,
    FILL_REJECTED,
    FILL_REPLACED,
    REASON_VENUE_DOWN,
)

D = DECISION_READ
_OPEN = frozenset({FILL_ACCEPTED, FILL_REPLACED, FILL_AMEND_REJECTED})  # the order goes on


class _Inbox(Protocol):
    def recv(self, timeout_ms: int = 0) -> tuple[str, Any] | None: ...


class Sessions:
    """The gateways' sessions as announced on the bus: engine -> when it last said up."""

    def __init__(self, inbox: _Inbox) -> None:
        self.inbox = inbox
        self.last_up: dict[str, float] = {}

    def up(self, engine: str, timeout_s: float) -> bool:
        while (message := self.inbox.recv(0)) is not None:
            topic, payload = message
            if topic.startswith(SESSION_TOPIC) and isinstance(payload, dict):
                name = payload.get("venue")
                if payload.get("up") is True and isinstance(name, str):
                    self.last_up[name] = time.monotonic()
                else:
                    self.last_up.pop(str(name), None)
        seen = self.last_up.get(engine)
        return seen is not None and time.monotonic() - seen <= timeout_s


class RingVenue:
    """A Venue over a gateway engine's pair of rings."""

    def __init__(self, name: str, engine: str, orders: RecordWriter, reports: RecordReader,
                 sessions: Sessions, report_om: OrderManager, session_timeout_s: float) -> None:
        self.name, self.engine, self.orders, self.reports = name, engine, orders, reports
        self.sessions, self.om, self.timeout_s = sessions, report_om, session_timeout_s
        self.newest: dict[int, int] = {}  # strategy id -> newest order counter sent
        self.in_flight: set[int] = set()  # order ids sent, not yet over
        self.buf = bytearray(DECISION.itemsize)

    @property
    def state(self) -> SessionState:
        return self.session_state()

    def session_state(self) -> SessionState:
        up = self.sessions.up(self.engine, self.timeout_s)
        return SessionState.UP if up else SessionState.DOWN

    def accepts(self, row: Row) -> bool:
        """Whether the gateway would send this order (its id newer than any sent there)."""
        newest: int = self.newest.get(row[D.strategy_id], 0)
        return bool(row[D.order_id] & COUNTER_MASK > newest)

    def send_new(self, decision: Row, now_ns: int, out: list[Row]) -> None:
        if not self.accepts(decision):
            self.om.report(decision, FILL_REJECTED, REASON_VENUE_DOWN, now_ns, out)
            return
        buf = self.buf
        D.struct.pack_into(buf, 0, *decision)
        if not self.orders.write_bytes(buf):  # the gateway is not reading: not sent
            self.om.report(decision, FILL_REJECTED, REASON_VENUE_DOWN, now_ns, out)
            return
        self.newest[decision[D.strategy_id]] = decision[D.order_id] & COUNTER_MASK
        self.in_flight.add(decision[D.order_id])

    def send_amend(self, amend: Row, now_ns: int, out: list[Row]) -> None:
        raise NotImplementedError("amendments to a routed gateway are refused by the router")

    def poll(self, now_ns: int, out: list[FillRow]) -> None:
        batch: np.ndarray = self.reports.read(1_024)
        k = int(batch.shape[0])
        if k == 0:
            return
        for row in FILL_WRITTEN.struct.iter_unpack(np.ascontiguousarray(batch).view(
                np.uint8).data):
            out.append(row)
            if row[FILL_WRITTEN.leaves_qty] == 0 and row[FILL_WRITTEN.status] not in _OPEN:
                self.in_flight.discard(row[FILL_WRITTEN.order_id])
        self.reports.advance(k)

    def busy(self) -> bool:
        return bool(self.in_flight) or bool(self.reports.available())

    def recover(self, now_ns: int, out: list[Row]) -> None:
        """The gateway recovers its own session; nothing to do here."""

    def next_wakeup_s(self, now_ns: int) -> float | None:
        return 0.001 if self.in_flight else None
