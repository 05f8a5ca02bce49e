"""The bridge's sequence logic over a channel that drops batches: a block ring gets every
record exactly once and in order; an overwrite ring gets a subsequence plus counted gaps."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engines.bridge._sequence import Inbound, Outbound, Verdict


def _run(block: bool, total: int, batch: int, drops: list[bool]) -> tuple[list[int], Inbound]:
    """Drive sender and receiver with a channel losing the batches `drops` marks."""
    out, inbound = Outbound(block, resend_after_ns=5), Inbound(block)
    out.on_hello(0)
    delivered: list[int] = []
    now, step, sends = 0, 0, 0
    while (inbound.expected or 0) < total and step < 20 * total + 100:
        step += 1
        now += 1
        first = out.next_pos
        if first < total:
            n = min(batch, total - first)
            flags = out.sent(first, n, now)
            # a fault period: the n-th batch is dropped when drops[n] says so, then the link
            # is clean (a channel that keeps dropping in step with the resends never delivers)
            dropped = sends < len(drops) and drops[sends]
            sends += 1
            if not dropped:
                outcome = inbound.on_batch(first, n, bool(flags))
                if outcome.verdict is Verdict.ACCEPT:
                    delivered.extend(range(first + outcome.skip, first + n))
                elif outcome.verdict is Verdict.RESEND and inbound.expected is not None:
                    out.on_ack(inbound.expected, now)
                    out.on_nack(inbound.expected)
        if inbound.expected is None:
            out.on_hello(out.acked)  # the receiver repeats HELLO until a START arrives
        else:
            out.on_ack(inbound.expected, now)
        out.check_stalled(now)
    return delivered, inbound


@settings(max_examples=200, deadline=None)
@given(total=st.integers(1, 300), batch=st.integers(1, 40),
       drops=st.lists(st.booleans(), max_size=60))
def test_block_when_batches_drop_delivers_every_record_once_in_order(
        total: int, batch: int, drops: list[bool]) -> None:
    """Go-back-N over a lossy channel: exactly 0..total-1, nothing lost, nothing twice."""
    delivered, inbound = _run(True, total, batch, drops)
    assert delivered == list(range(total))
    assert inbound.gap_records == 0 and inbound.lost_records == 0


@settings(max_examples=200, deadline=None)
@given(total=st.integers(1, 300), batch=st.integers(1, 40),
       drops=st.lists(st.booleans(), max_size=60))
def test_overwrite_when_batches_drop_counts_every_missing_record(
        total: int, batch: int, drops: list[bool]) -> None:
    """Overwrite: what arrives is increasing, and delivered + counted gaps covers the span."""
    delivered, inbound = _run(False, total, batch, drops)
    assert delivered == sorted(set(delivered))
    if delivered:
        span = delivered[-1] + 1 - delivered[0]
        assert len(delivered) + inbound.gap_records == span
