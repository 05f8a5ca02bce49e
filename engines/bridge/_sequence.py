"""The bridge's sequence logic, without sockets or rings: what the receiver does with a batch
and where the sender sends from next. Positions are the sender ring's positions in a stream
(one incarnation of that ring: a ring created again starts a new stream at its own zero).

Receiver (`Inbound`): it starts only at a batch flagged START (the sender's answer to its
HELLO, which names where it resumes: engines.bridge._resume derives that from its own ring,
so a restarted receiver never writes a record twice); a START of another stream rebases it.
Then a batch that begins past the expected position is a gap: a `block` ring asks for a
resend from the expected position and drops the batch (go-back-N), an `overwrite` ring
counts the gap and goes on, like a lapped reader. Sender (`Outbound`): sends from
`next_pos`; a block ring's reader cursor is the acknowledged position (the ring keeps
everything not acknowledged, so a resend always finds it), a NACK or an acknowledgement that
stops moving rewinds `next_pos`, and what the ring no longer holds is reported LOST.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Verdict(enum.Enum):
    ACCEPT = "accept"  # write records [skip, count) of the batch
    DROP = "drop"  # duplicate or not started: nothing to write, nothing to ask
    RESEND = "resend"  # a gap on a block ring: drop it, ask for a resend from `expected`


@dataclass(slots=True)
class Outcome:
    verdict: Verdict
    skip: int = 0  # records at the batch's head already written (a partial duplicate)
    gap: int = 0  # records counted missing (overwrite rings)


class Inbound:
    """The receiver's view: the stream and next position it expects, and what it counted."""

    def __init__(self, block: bool, stream: int = 0, expected: int | None = None) -> None:
        self.block = block
        self.stream = stream  # the sender stream `expected` belongs to
        self.expected = expected  # None: nothing written yet, the first START sets it
        self.started = False  # a START batch came: until then batches are dropped
        self.rebases = 0  # START batches of another stream (the sender's ring is new)
        self.gap_records = 0  # overwrite: records skipped by gaps
        self.gaps = 0  # gaps seen (either policy)
        self.lost_records = 0  # block: records the sender reported gone (LOST)
        self.duplicates = 0  # records received twice (after a resend or a restart)

    @property
    def resume_at(self) -> int:
        """What a HELLO asks for: the next position of `stream`, -1 for 'where you are'."""
        return -1 if self.expected is None else self.expected

    def on_batch(self, first: int, count: int, start: bool, stream: int = 0) -> Outcome:
        if start and (self.expected is None or stream != self.stream):
            if self.expected is not None:
                self.rebases += 1
            self.stream, self.expected = stream, first
        if start:
            self.started = True
        if not self.started or stream != self.stream:
            return Outcome(Verdict.DROP)  # before our START, or an old stream's batch
        expected = self.expected
        if expected is None:  # unreachable: the START that set `started` set it
            return Outcome(Verdict.DROP)
        end = first + count
        if end <= expected:
            self.duplicates += count
            return Outcome(Verdict.DROP)
        if first > expected:
            self.gaps += 1
            if self.block:
                return Outcome(Verdict.RESEND)
            self.gap_records += first - expected
            self.expected = end
            return Outcome(Verdict.ACCEPT, gap=first - expected)
        skip = expected - first
        self.duplicates += skip
        self.expected = end
        return Outcome(Verdict.ACCEPT, skip=skip)

    def on_lost(self, first: int, count: int, stream: int = 0) -> int:
        """The sender's ring no longer holds [first, first + count): count it, move past it.
        Returns the records newly counted."""
        if not self.started or stream != self.stream or self.expected is None \
                or first + count <= self.expected:
            return 0
        lost = first + count - max(first, self.expected)
        self.lost_records += lost
        self.expected = first + count
        return lost


class SenderState(enum.Enum):
    WAITING = "waiting"  # no HELLO yet: nothing is sent
    STARTING = "starting"  # the next batch carries START
    STREAMING = "streaming"


class Outbound:
    """The sender's view: where to send from, what the far side acknowledged."""

    def __init__(self, block: bool, resend_after_ns: int) -> None:
        self.block = block
        self.resend_after_ns = resend_after_ns
        self.state = SenderState.WAITING
        self.next_pos = 0
        self.acked = 0
        self.acked_at_ns = 0
        self.resent_records = 0
        self.rewinds = 0

    def on_hello(self, committed: int, resume: int = -1, published: int | None = None
                 ) -> tuple[int, int]:
        """Start (again): from `resume`, where the receiver's own ring says it stands (-1:
        it knows nothing; then from the committed cursor). Returns (lost_from, lost_to): the
        range it asked for that is below the committed cursor, which a block ring no longer
        keeps (empty when lost_from == lost_to). A block ring's records below `resume` are
        the receiver's already: the caller advances its reader to `acked`."""
        start = committed if resume < 0 else resume
        if published is not None:
            start = min(start, published)
        lost_from = lost_to = committed
        if self.block and start < committed:
            lost_from, start = start, committed
        self.state = SenderState.STARTING
        self.next_pos = start
        self.acked = start if self.block else committed
        return lost_from, lost_to

    def on_ack(self, pos: int, now_ns: int) -> int:
        """Returns how far the block ring's reader may advance (0: not at all). Only an
        acknowledgement that moves restarts the resend clock: the receiver repeats its last
        one periodically, and a repeat must not hide a lost tail."""
        if pos <= self.acked:
            return 0
        pos = min(pos, self.next_pos)
        moved, self.acked = pos - self.acked, pos
        self.acked_at_ns = now_ns
        return moved

    def on_nack(self, pos: int) -> None:
        if self.state is SenderState.WAITING:
            return
        if pos < self.next_pos:
            self.resent_records += self.next_pos - max(pos, self.acked)
            self.rewinds += 1
            self.next_pos = max(pos, self.acked) if self.block else pos

    def check_stalled(self, now_ns: int) -> bool:
        """A block ring whose acknowledgement stopped moving with records out: rewind to the
        acknowledged position (a lost tail has no later batch to reveal its gap)."""
        if not self.block or self.state is SenderState.WAITING or self.next_pos <= self.acked:
            return False
        if now_ns - self.acked_at_ns < self.resend_after_ns:
            return False
        self.resent_records += self.next_pos - self.acked
        self.rewinds += 1
        self.next_pos = self.acked
        self.acked_at_ns = now_ns
        return True

    def sent(self, first: int, count: int, now_ns: int) -> int:
        """Record a batch as sent; returns the START flag to put on it."""
        if self.next_pos <= self.acked:  # the first record out: its ack clock starts now
            self.acked_at_ns = now_ns
        flags = 1 if self.state is SenderState.STARTING else 0
        self.state = SenderState.STREAMING
        self.next_pos = first + count
        return flags
