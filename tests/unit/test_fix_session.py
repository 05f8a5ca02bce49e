"""The FIX 4.4 session layer: an initiator and an acceptor session wired byte for byte, with
an injected clock (logon, heartbeats, test requests, gaps, resends, duplicates, logout)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engines.fix._seqstore import MemorySeqStore, SeqStore
from engines.fix._session import FixSession, FixSessionError, FixState
from engines.statedir import StateDir

pytestmark = pytest.mark.timeout(30)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _pair(clock: Clock, store: SeqStore | None = None) -> tuple[FixSession, FixSession]:
    gw = FixSession("GW", "VENUE", store or MemorySeqStore(), heartbeat_s=10, clock=clock)
    venue = FixSession("VENUE", "GW", MemorySeqStore(), heartbeat_s=10, clock=clock)
    return gw, venue


def _deliver(src: FixSession, dst: FixSession, drop: set[int] | None = None) -> list:
    """Move src's outbox to dst (dropping the messages at the given outbox positions)."""
    out, msgs = [], src.outbox[:]
    src.outbox.clear()
    for i, raw in enumerate(msgs):
        if drop and i in drop:
            continue
        out.extend(dst.on_bytes(raw))
    return out


def _logon(gw: FixSession, venue: FixSession) -> None:
    gw.logon()
    _deliver(gw, venue)
    _deliver(venue, gw)


def _report_delivered(venue: FixSession, gw: FixSession) -> bytes:
    """The venue's ExecutionReport e1, delivered to the gateway: its bytes as sent."""
    venue.send_app("8", [(17, "e1")])
    raw = venue.outbox[0]
    _deliver(venue, gw)
    return raw


def _order(gw: FixSession, clordid: str) -> int | None:
    return gw.send_app("D", [(11, clordid), (55, "AAPL"), (54, 1), (38, 100), (40, 2),
                             (44, "100.01")])


def test_logon_when_answered_both_sides_active_and_app_messages_flow_once() -> None:
    """Logon, Logon back; a NewOrderSingle is delivered once, with sequence numbers moving."""
    clock = Clock()
    gw, venue = _pair(clock)
    assert _order(gw, "1") is None and gw.outbox == []  # not logged on: nothing is sent
    _logon(gw, venue)
    assert gw.state is FixState.ACTIVE and venue.state is FixState.ACTIVE
    assert _order(gw, "1") == 2
    got = _deliver(gw, venue)
    assert [m.get(11) for m in got] == [b"1"] and venue.store.next_in == 3


def test_timer_when_quiet_heartbeats_then_test_request_then_declares_dead() -> None:
    """Quiet for an interval: a Heartbeat; the peer quiet for 1.2 intervals: a TestRequest,
    answered by a Heartbeat with its id; unanswered past 2.4 intervals: the session is dead."""
    clock = Clock()
    gw, venue = _pair(clock)
    _logon(gw, venue)
    clock.now += 12
    assert gw.on_timer() and gw.test_request_out is not None
    types = [m.split(b"\x0135=")[1][:1] for m in gw.outbox]
    assert types == [b"0", b"1"]
    _deliver(gw, venue)
    _deliver(venue, gw)  # the Heartbeat that answers the TestRequest
    assert gw.test_request_out is None
    clock.now += 12
    assert gw.on_timer()
    gw.outbox.clear()  # the peer never hears of it, and never answers
    clock.now += 13
    assert gw.on_timer() is False and gw.state is FixState.DISCONNECTED


def test_gap_when_messages_lost_resend_request_delivers_each_once_in_order() -> None:
    """Two ExecutionReports lost on the way: the next one reveals the gap; the gateway asks
    for it again and gets the three, in order and once, the lost ones with PossDupFlag."""
    clock = Clock()
    gw, venue = _pair(clock)
    _logon(gw, venue)
    for exec_id in ("e1", "e2", "e3"):
        venue.send_app("8", [(17, exec_id), (150, "F")])
    assert _deliver(venue, gw, drop={0, 1}) == []  # e3 shows the gap: held back
    assert gw.state is FixState.RESENDING
    _deliver(gw, venue)  # the ResendRequest
    got = _deliver(venue, gw)
    assert [m.get(17) for m in got] == [b"e1", b"e2", b"e3"]
    assert all(m.get(43) == b"Y" for m in got) and gw.state is FixState.ACTIVE
    venue.send_app("8", [(17, "e4")])
    assert [m.get(17) for m in _deliver(venue, gw)] == [b"e4"]


def test_resend_when_admin_messages_in_range_are_gap_filled_not_resent() -> None:
    """A resend of a range with heartbeats in it: SequenceReset-GapFill over them, the
    application messages again; the peer's expected number lands after the range."""
    clock = Clock()
    gw, venue = _pair(clock)
    _logon(gw, venue)
    _order(gw, "1")
    clock.now += 11
    gw.on_timer()  # a Heartbeat (seq 3)
    _order(gw, "2")
    gw.outbox.clear()  # all three lost
    venue.send_app("8", [(17, "x")])
    _deliver(venue, gw)
    venue.store.set_in(2)  # make the venue see the gap on the next message
    _order(gw, "3")
    _deliver(gw, venue)  # seq 5 > 2: ResendRequest from the venue
    _deliver(venue, gw)  # the gateway resends 2, gap-fills 3, resends 4, resends 5
    got = _deliver(gw, venue)
    assert [m.get(11) for m in got] == [b"1", b"2", b"3"] and venue.store.next_in == 6


def test_resend_when_asked_for_more_than_kept_gap_fills_the_oldest_resends_the_newest() -> None:
    """Past `resend_keep` application messages the oldest are forgotten (memory stays
    bounded): a resend from 1 gap-fills the Logon and the orders no longer kept, and sends
    the kept ones again, each once, in order."""
    clock = Clock()
    gw, venue = _pair(clock)
    gw.resend_keep = 3
    _logon(gw, venue)
    for clordid in "12345":
        _order(gw, clordid)  # seq 2..6
    assert sorted(gw.sent) == [4, 5, 6]
    gw.outbox.clear()  # all five lost
    venue.send_app("8", [(17, "x")])
    _deliver(venue, gw)
    venue.store.set_in(2)  # the venue sees the gap on the next message
    _order(gw, "6")  # seq 7: 4 falls out
    _deliver(gw, venue)  # seq 7 > 2: ResendRequest from the venue
    _deliver(venue, gw)
    resent = gw.outbox[:]
    got = _deliver(gw, venue)
    assert [m.get(11) for m in got] == [b"4", b"5", b"6"] and venue.store.next_in == 8
    assert resent[0].count(b"\x01123=Y\x01") == 1 and b"\x0136=5\x01" in resent[0]


def test_duplicate_when_possdup_below_expected_is_dropped_and_counted() -> None:
    """An ExecutionReport sent again with PossDupFlag=Y and an old number is not delivered."""
    clock = Clock()
    gw, venue = _pair(clock)
    _logon(gw, venue)
    raw = _report_delivered(venue, gw)
    dup = raw.replace(b"\x0152=", b"\x0143=Y\x0152=", 1)
    dup = _rechecksum(dup)
    assert gw.on_bytes(dup) == [] and gw.duplicates_in == 1


def test_low_sequence_when_not_possdup_ends_the_session() -> None:
    """A number below the expected one without PossDupFlag is a broken session."""
    clock = Clock()
    gw, venue = _pair(clock)
    _logon(gw, venue)
    raw = _report_delivered(venue, gw)
    with pytest.raises(FixSessionError, match="below the expected"):
        gw.on_bytes(raw)


def test_seqstore_when_reopened_keeps_numbers_and_reconnect_continues_them(
        tmp_path: Path) -> None:
    """Numbers live in the state dir: a new gateway session over the same file logs on with
    the next number, and the venue (that kept its own) sees no gap."""
    clock = Clock()
    state = StateDir.create(tmp_path / "state")
    gw, venue = _pair(clock, SeqStore(state, "fix.seq"))
    _logon(gw, venue)
    _order(gw, "1")
    _deliver(gw, venue)
    gw.store.flush()
    again = SeqStore(state, "fix.seq")
    assert (again.next_out, again.next_in) == (3, 2)
    gw2 = FixSession("GW", "VENUE", again, heartbeat_s=10, clock=clock)
    venue.disconnected()
    _logon(gw2, venue)
    assert gw2.state is FixState.ACTIVE and venue.state is FixState.ACTIVE
    _order(gw2, "2")
    assert [m.get(11) for m in _deliver(gw2, venue)] == [b"2"]


def test_logout_when_requested_is_answered_and_both_disconnect() -> None:
    """Logout, Logout back: neither side sends application messages after it."""
    clock = Clock()
    gw, venue = _pair(clock)
    _logon(gw, venue)
    gw.logout("bye")
    _deliver(gw, venue)
    _deliver(venue, gw)
    assert gw.state is FixState.DISCONNECTED and venue.state is FixState.DISCONNECTED
    assert _order(gw, "9") is None


def _rechecksum(raw: bytes) -> bytes:
    """The message with its BodyLength and CheckSum recomputed."""
    body = raw[raw.index(b"\x0135="):raw.rindex(b"10=")]
    head = b"8=FIX.4.4\x019=" + str(len(body) - 1).encode()
    msg = head + body
    return msg + b"10=" + f"{sum(msg) % 256:03d}".encode() + b"\x01"
