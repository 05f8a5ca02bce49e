"""The bridge's sequence logic and wire format, without sockets (engines.bridge._sequence)."""

from __future__ import annotations

import numpy as np
import pytest

from engines.bridge import _wire as wire
from engines.bridge._resume import SLOT_WORDS, WORDS, Resume, ResumeMark
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
    """pack/unpack keep kind, flags, first, count, fingerprint and stream."""
    msg = wire.unpack(wire.pack(wire.Kind.DATA, 2**40, 4096, 2**62, wire.FLAG_START, -5))
    assert (msg.kind, msg.first, msg.count, msg.fingerprint, msg.flags, msg.stream) == (
        wire.Kind.DATA, 2**40, 4096, 2**62, wire.FLAG_START, -5)


@pytest.mark.parametrize("frame", [b"", b"\x02" + bytes(wire.HEADER_BYTES - 1),
                                   wire.pack(wire.Kind.ACK)[:-1]])
def test_unpack_when_not_a_header_raises_wire_error(frame: bytes) -> None:
    """A short frame or another version is refused, naming what is wrong."""
    with pytest.raises(wire.WireError):
        wire.unpack(frame)


def test_on_batch_when_resumed_continues_its_stream_and_rebases_on_another() -> None:
    """A receiver resumed at 40 of stream 7 drops what it holds; a START of stream 8 (the
    sender's ring made again) starts over at that batch."""
    inbound = Inbound(block=True, stream=7, expected=40)
    assert inbound.resume_at == 40
    assert inbound.on_batch(36, 4, start=True, stream=7).verdict is Verdict.DROP
    outcome = inbound.on_batch(38, 6, start=False, stream=7)
    assert outcome.verdict is Verdict.ACCEPT and outcome.skip == 2 and inbound.expected == 44
    assert inbound.on_batch(0, 3, start=False, stream=8).verdict is Verdict.DROP
    assert inbound.on_batch(0, 3, start=True, stream=8).verdict is Verdict.ACCEPT
    assert (inbound.stream, inbound.expected, inbound.rebases) == (8, 3, 1)


def test_on_hello_when_resume_is_ahead_starts_there_and_acknowledges_it() -> None:
    """The far ring holds up to 30: a block sender starts at 30 and its reader moves there."""
    out = Outbound(block=True, resend_after_ns=10)
    assert out.on_hello(committed=20, resume=30, published=50) == (20, 20)
    assert (out.next_pos, out.acked, out.state) == (30, 30, SenderState.STARTING)


def test_on_hello_when_resume_is_below_the_committed_cursor_reports_it_lost() -> None:
    """A block ring no longer keeps what was acknowledged: that range is LOST, never resent
    as if new."""
    out = Outbound(block=True, resend_after_ns=10)
    assert out.on_hello(committed=20, resume=12, published=50) == (12, 20)
    assert (out.next_pos, out.acked) == (20, 20)
    assert out.on_hello(committed=20) == (20, 20) and out.next_pos == 20


def test_resume_mark_when_stored_maps_the_ring_cursor_to_the_sender_position() -> None:
    """before_write stores (stream, offset) only when it changes; resume adds the cursor;
    another ring's identity finds no mark."""
    words = np.zeros(WORDS, dtype="<i8")
    mark = ResumeMark(words, ring_id=3)
    assert mark.resume(0) is None
    assert mark.before_write(stream=9, first=100, local_cursor=0)
    assert not mark.before_write(stream=9, first=110, local_cursor=10)
    assert mark.resume(25) == Resume(9, 125)
    assert mark.before_write(stream=9, first=140, local_cursor=25)  # a LOST range skipped
    assert ResumeMark(words, ring_id=3).resume(25) == Resume(9, 140)
    assert ResumeMark(words, ring_id=4).resume(25) is None


def test_resume_mark_when_a_store_is_cut_short_keeps_the_previous_mark() -> None:
    """A kill while the idle slot is half written leaves the selected slot as it was."""
    words = np.zeros(WORDS, dtype="<i8")
    ResumeMark(words, ring_id=3).before_write(stream=9, first=100, local_cursor=0)
    idle = 1 + SLOT_WORDS * (1 - int(words[0]))
    words[idle:idle + 2] = (1, 3)  # valid and ring id of a store that never finished
    assert ResumeMark(words, ring_id=3).resume(5) == Resume(9, 105)
