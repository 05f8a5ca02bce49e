"""The bridge's sequence logic and wire format, without sockets (engines.bridge._sequence)."""

from __future__ import annotations

import pytest

from engines.bridge import _wire as wire
from engines.bridge._sequence import Inbound, Outbound, SenderState, Verdict


def test_on_batch_when_not_started_drops_until_a_start_batch() -> None:
    """A receiver that has not started ignores batches until one flagged START."""
    inbound = Inbound(block=True)
    assert inbound.on_batch(10, 5, start=False).verdict is Verdict.DROP
    assert inbound.on_batch(10, 5, start=True).verdict is Verdict.ACCEPT
    assert inbound.expected == 15


def test_on_batch_when_block_gap_asks_for_a_resend_and_writes_nothing() -> None:
    """A block ring's gap is never written over: the batch is dropped, a resend asked."""
    inbound = Inbound(block=True)
    inbound.on_batch(0, 4, start=True)
    assert inbound.on_batch(8, 4, start=False).verdict is Verdict.RESEND
    assert inbound.expected == 4 and inbound.gaps == 1 and inbound.gap_records == 0


def test_on_batch_when_overwrite_gap_counts_it_and_goes_on() -> None:
    """An overwrite ring counts the gap like a lapped reader and accepts the batch."""
    inbound = Inbound(block=False)
    inbound.on_batch(0, 4, start=True)
    outcome = inbound.on_batch(10, 2, start=False)
    assert outcome.verdict is Verdict.ACCEPT and outcome.gap == 6
    assert inbound.gap_records == 6 and inbound.expected == 12


def test_on_batch_when_partly_duplicate_skips_the_head() -> None:
    """A resent batch overlapping what was written is written from the first new record."""
    inbound = Inbound(block=True)
    inbound.on_batch(0, 10, start=True)
    outcome = inbound.on_batch(6, 8, start=False)
    assert outcome.verdict is Verdict.ACCEPT and outcome.skip == 4
    assert inbound.on_batch(2, 4, start=False).verdict is Verdict.DROP


def test_on_lost_when_past_expected_counts_and_moves_on() -> None:
    """A LOST range the ring no longer holds is counted once and skipped."""
    inbound = Inbound(block=True)
    inbound.on_batch(0, 4, start=True)
    inbound.on_lost(4, 6)
    assert inbound.lost_records == 6 and inbound.expected == 10


def test_check_stalled_when_ack_stops_rewinds_to_the_acknowledged_position() -> None:
    """A lost tail has no later batch to reveal it: the sender rewinds after resend_after."""
    out = Outbound(block=True, resend_after_ns=100)
    out.on_hello(0)
    out.sent(0, 10, now_ns=1000)
    assert out.on_ack(4, now_ns=1010) == 4
    assert not out.check_stalled(1050)
    assert out.check_stalled(1200) and out.next_pos == 4 and out.resent_records == 6


def test_on_nack_when_block_never_rewinds_below_the_acknowledged_position() -> None:
    """Records acknowledged are out of the resend window."""
    out = Outbound(block=True, resend_after_ns=10**9)
    out.on_hello(0)
    out.sent(0, 20, now_ns=0)
    out.on_ack(8, now_ns=1)
    out.on_nack(5)
    assert out.next_pos == 8 and out.state is SenderState.STREAMING


def test_unpack_when_round_tripped_keeps_every_field() -> None:
    """pack/unpack keep kind, flags, first, count and fingerprint."""
    msg = wire.unpack(wire.pack(wire.Kind.DATA, 2**40, 4096, 2**62, wire.FLAG_START))
    assert (msg.kind, msg.first, msg.count, msg.fingerprint, msg.flags) == (
        wire.Kind.DATA, 2**40, 4096, 2**62, wire.FLAG_START)


@pytest.mark.parametrize("frame", [b"", b"\x02" + bytes(wire.HEADER_BYTES - 1),
                                   wire.pack(wire.Kind.ACK)[:-1]])
def test_unpack_when_not_a_header_raises_wire_error(frame: bytes) -> None:
    """A short frame or another version is refused, naming what is wrong."""
    with pytest.raises(wire.WireError):
        wire.unpack(frame)
