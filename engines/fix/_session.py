"""The FIX 4.4 session layer (simplefix encodes and parses): logon, heartbeats, test requests,
sequence numbers kept in the state directory, resend requests and gap fills, logout.

Transport-free: bytes in (`on_bytes`), bytes out (`outbox`), a clock passed in (`on_timer`),
so the same object runs over a socket in the gateway and against a peer in the tests. What
it hands up are the application messages, each once and in sequence order: a gap is asked
for again (ResendRequest) and nothing after it is delivered until it is filled; a message at
or under the expected number is delivered only if it is new and not a possible duplicate.
Application messages it sent are kept for a resend (PossDupFlag=Y, OrigSendingTime), the
newest `resend_keep` of them (a long session's memory stays bounded); admin messages, and
application messages older than those, are gap-filled (SequenceReset-GapFill) instead: an
order that old is not sent to the venue again.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import simplefix

from engines.fix._seqstore import SeqStore

BEGIN = "FIX.4.4"
ADMIN = frozenset({b"0", b"1", b"2", b"3", b"4", b"5", b"A"})
TIME_FMT = "%Y%m%d-%H:%M:%S.000"


class FixState(enum.Enum):
    DISCONNECTED = "disconnected"
    LOGON_SENT = "logon_sent"  # initiator: waiting for the peer's Logon
    ACTIVE = "active"  # logged on, sequence in line: application messages flow
    RESENDING = "resending"  # logged on, a gap asked for again: nothing new is delivered
    LOGOUT_SENT = "logout_sent"


class FixSessionError(Exception):
    """The peer broke the session rules (a sequence number too low without PossDupFlag, a
    first message that is not a Logon): the session is over."""


@dataclass(slots=True)
class FixSession:
    sender: str
    target: str
    store: SeqStore
    heartbeat_s: int = 30
    clock: Callable[[], float] = time.time
    state: FixState = FixState.DISCONNECTED
    outbox: list[bytes] = field(default_factory=list)
    sent: dict[int, simplefix.FixMessage] = field(default_factory=dict)  # app messages by seq
    resend_keep: int = 10_000  # the newest application messages kept for a resend
    last_in_s: float = 0.0
    last_out_s: float = 0.0
    test_request_out: str | None = None
    duplicates_in: int = 0  # possible duplicates dropped
    gaps_in: int = 0  # gaps seen (each asked for again with one ResendRequest)
    _gap_end: int = 0  # RESENDING until every number up to this one came in
    _parser: simplefix.FixParser = field(default_factory=simplefix.FixParser)

    # -- sending ---------------------------------------------------------------------------
    def _header(self, msg_type: bytes | str, seq: int | None = None) -> simplefix.FixMessage:
        msg = simplefix.FixMessage()
        msg.append_pair(8, BEGIN, header=True)
        msg.append_pair(35, msg_type, header=True)
        msg.append_pair(49, self.sender, header=True)
        msg.append_pair(56, self.target, header=True)
        msg.append_pair(34, self.store.next_out if seq is None else seq, header=True)
        msg.append_utc_timestamp(52, self.clock(), header=True)
        return msg

    def _send(self, msg: simplefix.FixMessage) -> None:
        self.outbox.append(msg.encode())
        self.last_out_s = self.clock()

    def _send_admin(self, msg_type: str, *pairs: tuple[int, object]) -> None:
        msg = self._header(msg_type)
        for tag, value in pairs:
            msg.append_pair(tag, value)
        self.store.advance_out()
        self._send(msg)

    def logon(self, reset: bool = False) -> None:
        """Initiator: send a Logon (ResetSeqNumFlag when `reset`: both sides start at 1)."""
        if reset:
            self.store.reset()
        pairs: list[tuple[int, object]] = [(98, 0), (108, self.heartbeat_s)]
        if reset:
            pairs.append((141, "Y"))
        self._send_admin("A", *pairs)
        self.state = FixState.LOGON_SENT

    def logout(self, text: str = "") -> None:
        self._send_admin("5", *([(58, text)] if text else []))
        self.state = FixState.LOGOUT_SENT

    @property
    def up(self) -> bool:
        """Application messages may be sent (logged on; a resend of ours does not stop it)."""
        return self.state in (FixState.ACTIVE, FixState.RESENDING)

    def send_app(self, msg_type: str, pairs: list[tuple[int, object]]) -> int | None:
        """Send one application message; its sequence number, or None when the session is not
        up (nothing was sent: the caller reports the order refused)."""
        if not self.up:
            return None
        seq = self.store.next_out
        msg = self._header(msg_type)
        for tag, value in pairs:
            msg.append_pair(tag, value)
        sent = self.sent
        sent[seq] = msg
        if len(sent) > self.resend_keep:  # numbers only grow: the first key is the oldest
            del sent[next(iter(sent))]
        self.store.advance_out()
        self._send(msg)
        return seq

    # -- receiving -------------------------------------------------------------------------
    def on_bytes(self, data: bytes) -> list[simplefix.FixMessage]:
        """Feed received bytes; the application messages now deliverable, in order."""
        self._parser.append_buffer(data)
        out: list[simplefix.FixMessage] = []
        while (msg := self._parser.get_message()) is not None:
            self.last_in_s = self.clock()
            self._on_message(msg, out)
        return out

    def _on_message(self, msg: simplefix.FixMessage, out: list[simplefix.FixMessage]) -> None:
        msg_type, seq = msg.get(35), int(msg.get(34) or 0)
        poss_dup = msg.get(43) == b"Y"
        if self.state in (FixState.DISCONNECTED, FixState.LOGON_SENT) and msg_type != b"A":
            raise FixSessionError(f"first message {msg_type!r} is not a Logon")
        if msg_type == b"4" and msg.get(123) != b"Y":  # SequenceReset-Reset: no number check
            self.store.set_in(int(msg.get(36)))
            return
        expected = self.store.next_in
        if seq < expected:
            if poss_dup:
                self.duplicates_in += 1
                return
            raise FixSessionError(f"MsgSeqNum {seq} below the expected {expected} without "
                                  "PossDupFlag")
        if seq > expected:
            self._gap_end = max(self._gap_end, seq)
            if msg_type == b"A":
                self._on_logon(msg)
            elif msg_type == b"5":
                self.state = FixState.DISCONNECTED
                return
            if self.state is not FixState.RESENDING:
                self.gaps_in += 1
                self._send_admin("2", (7, expected), (16, 0))
                self.state = FixState.RESENDING
            if msg_type == b"2":
                self._on_resend_request(msg)
            return  # the gap comes first; this one comes again with it
        self.store.set_in(seq + 1)
        if msg_type == b"4":  # gap fill over a run of admin messages (or unsent ones)
            self.store.set_in(int(msg.get(36)))
        elif msg_type == b"A":
            self._on_logon(msg)
        elif msg_type == b"0":
            if msg.get(112) is not None and msg.get(112).decode() == self.test_request_out:
                self.test_request_out = None
        elif msg_type == b"1":
            self._send_admin("0", (112, msg.get(112).decode()))
        elif msg_type == b"2":
            self._on_resend_request(msg)
        elif msg_type == b"5":
            if self.state is not FixState.LOGOUT_SENT:
                self._send_admin("5")
            self.state = FixState.DISCONNECTED
        elif msg_type not in ADMIN:
            out.append(msg)
        if self.state is FixState.RESENDING and self.store.next_in > self._gap_end:
            self.state = FixState.ACTIVE

    def _on_logon(self, msg: simplefix.FixMessage) -> None:
        if self.state is FixState.DISCONNECTED:  # acceptor side: answer it
            if msg.get(141) == b"Y":
                self.store.reset()
                self.store.set_in(2)
            self._send_admin("A", (98, 0), (108, int(msg.get(108) or self.heartbeat_s)))
        self.state = FixState.ACTIVE

    def _on_resend_request(self, msg: simplefix.FixMessage) -> None:
        """Resend our application messages in [BeginSeqNo, EndSeqNo] with PossDupFlag=Y;
        gap-fill every run of numbers we hold no application message for."""
        begin, end = int(msg.get(7)), int(msg.get(16))
        last = self.store.next_out - 1
        end = last if end == 0 or end > last else end
        seq = begin
        while seq <= end:
            if seq in self.sent:
                self._resend(seq, self.sent[seq])
                seq += 1
                continue
            run_end = seq
            while run_end + 1 <= end and run_end + 1 not in self.sent:
                run_end += 1
            fill = self._header("4", seq=seq)
            fill.append_pair(43, "Y", header=True)
            fill.append_pair(123, "Y")
            fill.append_pair(36, run_end + 1)
            self._send(fill)
            seq = run_end + 1

    def _resend(self, seq: int, original: simplefix.FixMessage) -> None:
        msg = self._header(original.get(35), seq=seq)
        msg.append_pair(43, "Y", header=True)
        msg.append_pair(122, original.get(52), header=True)
        for tag, value in original.pairs:
            if tag not in (b"8", b"9", b"10", b"34", b"35", b"49", b"52", b"56"):
                msg.append_pair(tag, value)
        self._send(msg)

    # -- time ------------------------------------------------------------------------------
    def on_timer(self) -> bool:
        """Heartbeat when we were quiet for an interval, a TestRequest when the peer was, and
        False (the session is dead: drop it) when a TestRequest went unanswered."""
        if not self.up:
            return self.state is not FixState.DISCONNECTED
        now = self.clock()
        if now - self.last_out_s >= self.heartbeat_s:
            self._send_admin("0")
        if now - self.last_in_s >= self.heartbeat_s * 1.2:
            if self.test_request_out is not None and \
                    now - self.last_in_s >= self.heartbeat_s * 2.4:
                self.state = FixState.DISCONNECTED
                return False
            if self.test_request_out is None:
                self.test_request_out = f"TEST-{int(now)}"
                self._send_admin("1", (112, self.test_request_out))
        return True

    def disconnected(self) -> None:
        """The transport dropped: the next session starts with a Logon; numbers are kept."""
        self.state = FixState.DISCONNECTED
        self.test_request_out = None
        self._parser = simplefix.FixParser()
