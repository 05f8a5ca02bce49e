"""The bridge's resume logic against a model: a ring bridged over a channel that drops
messages, with the receiver killed at any point (between its mark and its write too) and the
sender killed and restarted. A block ring gets every position exactly once, in order; an
overwrite ring (lapped as it goes) gets an increasing subsequence, every missing record
counted."""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from engines.bridge import _wire as wire
from engines.bridge._resume import WORDS, ResumeMark
from engines.bridge._sequence import Inbound, Outbound, SenderState, Verdict

STREAM = 77  # the sender ring's identity (never re-created here)
CAPACITY = 64  # the sender's block ring: it holds every record not acknowledged
RING_ID = 5  # the receiver ring's identity (kept across every restart)
Msg = tuple[wire.Kind, int, int, int, int]  # kind, first, count, flags, stream


class BridgeModel(RuleBasedStateMachine):
    """The engines' glue (sender.py, receiver.py) over the real Outbound/Inbound/ResumeMark."""

    BLOCK = True

    def __init__(self) -> None:
        super().__init__()
        self.published = 0  # records 0..published-1 of the sender ring (value = position)
        self.committed = 0  # the sender's reader cursor, in shm: survives a sender restart
        self.out = Outbound(self.BLOCK, resend_after_ns=3)
        self.now = 0
        self.mark_words = np.zeros(WORDS, dtype="<i8")  # the mapped file: survives a kill
        self.local: list[int] = []  # the receiver's ring: survives a kill
        self.inbound = self._receiver_start()
        self.to_receiver: deque[Msg] = deque()
        self.to_sender: deque[Msg] = deque()
        self.lost = 0
        self.counted = 0  # overwrite: gap records the receiver counted, every incarnation

    # -- the receiver (receiver.py) -------------------------------------------------------------

    def _receiver_start(self) -> Inbound:
        self.mark = ResumeMark(self.mark_words, RING_ID)
        found = self.mark.resume(len(self.local))
        if found is None:
            return Inbound(self.BLOCK)
        return Inbound(self.BLOCK, found.stream, found.expected)

    def _hello(self) -> None:
        self.to_sender.append((wire.Kind.HELLO, self.inbound.resume_at, 0, 0,
                               self.inbound.stream))

    def _on_receiver(self, msg: Msg, write_limit: int | None = None) -> bool:
        """One message into the receiver; False when it was killed in the middle of it."""
        kind, first, count, flags, stream = msg
        inbound = self.inbound
        if kind is wire.Kind.LOST:
            self.lost += inbound.on_lost(first, count, stream)
        elif kind is wire.Kind.HEARTBEAT and (not inbound.started or flags & wire.FLAG_START):
            self._hello()
        elif kind is wire.Kind.DATA:
            outcome = inbound.on_batch(first, count, bool(flags & wire.FLAG_START), stream)
            if outcome.verdict is Verdict.RESEND:
                self.to_sender.append((wire.Kind.NACK, inbound.expected or 0, 0, 0,
                                       inbound.stream))
            elif outcome.verdict is Verdict.ACCEPT:
                self.counted += outcome.gap
                records = list(range(first + outcome.skip, first + count))
                self.mark.before_write(inbound.stream, first + outcome.skip, len(self.local))
                if write_limit is not None:  # killed with a part of the batch published
                    self.local.extend(records[:write_limit])
                    return False
                self.local.extend(records)
        return True

    def _receiver_tick(self) -> None:
        if not self.inbound.started or self.inbound.expected is None:
            self._hello()
        else:
            self.to_sender.append((wire.Kind.ACK, self.inbound.expected, 0, 0,
                                   self.inbound.stream))

    # -- the sender (sender.py) ---------------------------------------------------------------

    def _on_sender(self, msg: Msg) -> None:
        kind, first, _count, _flags, stream = msg
        out = self.out
        if kind is wire.Kind.HELLO:
            resume = first if stream == STREAM else -1
            lost_from, lost_to = out.on_hello(self.committed, resume, self.published)
            if lost_to > lost_from:
                self.to_receiver.append((wire.Kind.LOST, lost_from, lost_to - lost_from, 0,
                                         STREAM))
            self.committed = max(self.committed, out.acked)
        elif kind in (wire.Kind.ACK, wire.Kind.NACK) and stream == STREAM:
            moved = out.on_ack(first, self.now)
            if self.BLOCK:  # an overwrite ring's reader moves as it reads
                self.committed += moved
            if kind is wire.Kind.NACK:
                out.on_nack(first)

    def _sender_tick(self, batch: int) -> None:
        out = self.out
        self.now += 1
        if out.state is SenderState.WAITING:
            self.to_receiver.append((wire.Kind.HEARTBEAT, 0, 0, wire.FLAG_START, 0))
            return
        if not self.BLOCK:
            self._send_overwrite(batch)
            return
        out.check_stalled(self.now)
        start = out.next_pos
        held = max(0, self.published - CAPACITY)
        if start >= self.published:
            return
        first = max(start, held)
        if first > start:
            self.to_receiver.append((wire.Kind.LOST, start, first - start, 0, STREAM))
        n = min(batch, self.published - first)
        flags = out.sent(first, n, self.now)
        self.to_receiver.append((wire.Kind.DATA, first, n, flags, STREAM))

    def _send_overwrite(self, batch: int) -> None:
        """Read what the ring holds from the reader's cursor (lapped: resynchronised to the
        oldest record held), advance, then send: a kill after the advance loses the batch."""
        self.committed = max(self.committed, self.published - CAPACITY)
        n = min(batch, self.published - self.committed)
        if n <= 0:
            return
        first = self.committed
        self.committed += n
        flags = self.out.sent(first, n, self.now)
        self.to_receiver.append((wire.Kind.DATA, first, n, flags, STREAM))

    # -- rules --------------------------------------------------------------------------------

    @precondition(lambda self: not self.BLOCK or self.published - self.committed < CAPACITY)
    @rule(n=st.integers(1, 40))
    def publish(self, n: int) -> None:
        """The local writer publishes; a block ring never laps its unacknowledged reader,
        an overwrite ring does."""
        room = CAPACITY - (self.published - self.committed) if self.BLOCK else n
        self.published += min(n, room)

    @rule(batch=st.integers(1, 12))
    def sender_tick(self, batch: int) -> None:
        self._sender_tick(batch)

    @rule()
    def receiver_tick(self) -> None:
        self._receiver_tick()

    @precondition(lambda self: self.to_receiver)
    @rule()
    def deliver_to_receiver(self) -> None:
        self._on_receiver(self.to_receiver.popleft())

    @precondition(lambda self: self.to_sender)
    @rule()
    def deliver_to_sender(self) -> None:
        self._on_sender(self.to_sender.popleft())

    @precondition(lambda self: self.to_receiver or self.to_sender)
    @rule(data=st.data())
    def drop(self, data: Any) -> None:
        """A link fault: any one message in flight is gone."""
        queue = data.draw(st.sampled_from([q for q in (self.to_receiver, self.to_sender) if q]))
        del queue[data.draw(st.integers(0, len(queue) - 1))]

    @rule()
    def kill_receiver(self) -> None:
        """SIGKILL between messages: what it sent is gone; what was sent to it may arrive."""
        self.to_sender.clear()
        self.inbound = self._receiver_start()

    @precondition(lambda self: any(m[0] is wire.Kind.DATA for m in self.to_receiver))
    @rule(write=st.integers(0, 12))
    def kill_receiver_mid_write(self, write: int) -> None:
        """SIGKILL inside a batch: after its mark, with some or none of its records written."""
        while self.to_receiver:
            msg = self.to_receiver.popleft()
            if msg[0] is wire.Kind.DATA:
                if not self._on_receiver(msg, write_limit=write):
                    break
            else:
                self._on_receiver(msg)
        self.kill_receiver()

    @rule()
    def kill_sender(self) -> None:
        """SIGKILL of the sender: its reader cursor stays in shm, its queue is gone."""
        self.to_receiver.clear()
        self.out = Outbound(self.BLOCK, resend_after_ns=3)

    @invariant()
    def each_position_once_in_order(self) -> None:
        if not self.BLOCK:
            assert all(a < b for a, b in zip(self.local, self.local[1:], strict=False))
            if self.local:
                missing = self.local[-1] + 1 - self.local[0] - len(self.local)
                assert missing <= self.counted + self.lost
            return
        assert self.local == list(range(len(self.local)))
        assert self.lost == 0
        assert self.committed <= len(self.local)  # acknowledged = written far away

    def teardown(self) -> None:
        """A clean link from here: everything published arrives, once (an overwrite ring's
        feed goes on: a restarted receiver starts at the next record sent after its HELLO)."""
        for _ in range(40 * (self.published + 10)):
            if self.published == 0 or (self.local and self.local[-1] == self.published - 1):
                break
            if not self.BLOCK:
                self.published += 1
            self._sender_tick(8)
            self._receiver_tick()
            while self.to_receiver or self.to_sender:
                if self.to_receiver:
                    self._on_receiver(self.to_receiver.popleft())
                if self.to_sender:
                    self._on_sender(self.to_sender.popleft())
        self.each_position_once_in_order()
        if self.BLOCK:
            assert self.local == list(range(self.published))
        elif self.published:
            assert self.local and self.local[-1] == self.published - 1


class OverwriteModel(BridgeModel):
    BLOCK = False


BridgeModel.TestCase.settings = settings(max_examples=300, stateful_step_count=60,
                                         deadline=None)
OverwriteModel.TestCase.settings = BridgeModel.TestCase.settings
TestBridgeResumeBlock = BridgeModel.TestCase
TestBridgeResumeOverwrite = OverwriteModel.TestCase
