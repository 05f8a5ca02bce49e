"""A gateway engine as a routed venue (engines.execution._ringvenue): its session from the bus
fails closed, children go out as DECISION records once and in id order, reports come back."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from routerkit import decision

from engines.execution._orders import FILL_WRITTEN, OrderManager, VenueParams, fill_records
from engines.execution._ringvenue import RingVenue, Sessions
from engines.venue import SESSION_TOPIC, SessionState
from shm.layout import DECISION, FILL_FILLED, FILL_REJECTED, REASON_VENUE_DOWN


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, Any]] = []

    def recv(self, timeout_ms: int = 0) -> tuple[str, Any] | None:
        return self.messages.pop(0) if self.messages else None


class Writer:
    def __init__(self, room: int = 8) -> None:
        self.records: list[bytes] = []
        self.room = room

    def write_bytes(self, record: Any) -> bool:
        if len(self.records) >= self.room:
            return False
        self.records.append(bytes(record))
        return True


class Reader:
    def __init__(self) -> None:
        self.batch = np.zeros(0, FILL_WRITTEN.dtype)

    def read(self, max_n: int) -> np.ndarray:
        return self.batch

    def available(self) -> int:
        return int(self.batch.shape[0])

    def advance(self, n: int) -> None:
        self.batch = self.batch[n:]


def venue(inbox: Inbox, room: int = 8) -> tuple[RingVenue, Writer, Reader]:
    w, r = Writer(room), Reader()
    v = RingVenue("fixv", "fixgw", w, r, Sessions(inbox),  # type: ignore[arg-type]
                  OrderManager(VenueParams(), [0] * 8), 0.5)
    return v, w, r


def up(inbox: Inbox, is_up: bool = True) -> None:
    inbox.messages.append((f"{SESSION_TOPIC}fixgw", {"venue": "fixgw", "up": is_up}))


def test_session_when_nothing_heard_is_down() -> None:
    """Fail closed: a gateway never heard from is down."""
    assert venue(Inbox())[0].session_state() is SessionState.DOWN


def test_session_when_up_then_down_then_silent_follows_the_bus() -> None:
    """Up once heard up; down when it says so; down again once its last up is stale."""
    inbox = Inbox()
    v = venue(inbox)[0]
    up(inbox)
    assert v.session_state() is SessionState.UP
    up(inbox, False)
    assert v.session_state() is SessionState.DOWN
    up(inbox)
    assert v.session_state() is SessionState.UP
    v.sessions.last_up["fixgw"] = time.monotonic() - 1.0  # older than its 0.5 s
    assert v.session_state() is SessionState.DOWN


def test_send_new_when_written_is_the_decision_and_older_ids_are_refused() -> None:
    """The child goes out as its DECISION record; an older id of the strategy is refused
    REASON_VENUE_DOWN, never written (the gateway would drop it as seen)."""
    v, w, _ = venue(Inbox())
    out: list[tuple[Any, ...]] = []
    v.send_new(decision(5, 40), 10, out)
    assert not out and len(w.records) == 1
    assert np.frombuffer(w.records[0], DECISION)["qty"][0] == 40
    assert not v.accepts(decision(3, 10))
    v.send_new(decision(3, 10), 11, out)
    assert [(r[FILL_WRITTEN.status], r[FILL_WRITTEN.reason]) for r in out] == [
        (FILL_REJECTED, REASON_VENUE_DOWN)] and len(w.records) == 1


def test_send_new_when_ring_full_refuses_venue_down() -> None:
    """A gateway that does not read: the child is refused, to be re-routed."""
    v, w, _ = venue(Inbox(), room=0)
    out: list[tuple[Any, ...]] = []
    v.send_new(decision(1, 40), 10, out)
    assert out[0][FILL_WRITTEN.status] == FILL_REJECTED and not w.records


def test_poll_when_reports_written_returns_them_and_ends_in_flight() -> None:
    """The gateway's reports come back as FILL_WRITTEN rows; a final one ends the order."""
    v, _, r = venue(Inbox())
    v.send_new(decision(1, 40), 10, [])
    assert v.busy()
    row = ((1 << 40) | 1, 7, 1, 0, 1, 2, FILL_FILLED, 0, 40, 100.01, 0, 11, 0, 0, 0, 0)
    r.batch = fill_records([row])
    out: list[tuple[Any, ...]] = []
    v.poll(12, out)
    assert out == [row] and not v.busy()
