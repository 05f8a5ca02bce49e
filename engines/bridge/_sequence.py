"""The bridge's sequence logic, without sockets or rings: what the receiver does with a batch
and where the sender sends from next. Positions are the sender ring's positions.

Receiver (`Inbound`): it starts only at a batch flagged START (the sender's answer to its
HELLO); then a batch that begins past the expected position is a gap: a `block` ring asks for
a resend from the expected position and drops the batch (go-back-N), an `overwrite` ring
counts the gap and goes on, like a lapped reader. Sender (`Outbound`): sends from `next_pos`;
a block ring's reader cursor is the acknowledged position (the ring keeps everything not
acknowledged, so a resend always finds it), a NACK or an acknowledgement that stops moving
rewinds `next_pos`, and what the ring no longer holds is reported LOST.
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
    """The receiver's view: the next position it expects, and what it counted."""

    def __init__(self, block: bool) -> None:
        self.block = block
        self.expected: int | None = None  # None: not started, waiting for a START batch
        self.gap_records = 0  # overwrite: records skipped by gaps
        self.gaps = 0  # gaps seen (either policy)
        self.lost_records = 0  # block: records the sender reported gone (LOST)
        self.duplicates = 0  # records received twice (after a resend)

    def on_batch(self, first: int, count: int, start: bool) -> Outcome:
        if self.expected is None:
            if not start:
                return Outcome(Verdict.DROP)
            self.expected = first
        expected = self.expected
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

    def on_lost(self, first: int, count: int) -> None:
        """The sender's ring no longer holds [first, first + count): count it, move past it."""
        if self.expected is None or first + count <= self.expected:
            return
        self.lost_records += first + count - max(first, self.expected)
        self.expected = first + count

    def restart(self) -> None:
        """Forget the position (the next START batch sets it again)."""
        self.expected = None


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

    def on_hello(self, committed: int) -> None:
        """Start (again) from the reader's committed cursor."""
        self.state = SenderState.STARTING
        self.next_pos = committed
        self.acked = committed

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
