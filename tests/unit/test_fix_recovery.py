"""The reports a status answer adds to an open order (engines.fix._recovery) and the ExecIDs
kept in the state dir (engines.fix._execstore)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from engines.fix._execstore import ExecStore, digest
from engines.fix._recovery import missing_reports
from engines.statedir import StateDir
from shm.layout import (
    FILL_CANCELLED,
    FILL_FILLED,
    FILL_PARTIAL,
    FILL_REJECTED,
    REASON_VENUE,
)


def _answer(known: bool = True, over: int = 0, cum: int = 0, leaves: int = 0) -> dict[str, object]:
    return {"order_id": 1, "known": known, "over": over, "cum": cum, "avg_px": 100.0,
            "leaves": leaves}


def test_missing_reports_when_venue_never_took_order_reports_it_rejected() -> None:
    """An order the venue does not know ends rejected with REASON_VENUE, nothing traded."""
    assert missing_reports(_answer(known=False), 0) == [(FILL_REJECTED, REASON_VENUE, 0, 0.0, 0)]


def test_missing_reports_when_open_and_reported_in_full_adds_nothing() -> None:
    """A resting order whose every execution was reported needs no report."""
    assert missing_reports(_answer(cum=60, leaves=40), 60) == []


def test_missing_reports_when_cancelled_after_unreported_trade_adds_both() -> None:
    """Traded 60 of which 0 were reported, then cancelled: a partial of 60, then the cancel."""
    assert missing_reports(_answer(over=FILL_CANCELLED, cum=60), 0) == [
        (FILL_PARTIAL, 0, 60, 100.0, 0), (FILL_CANCELLED, 0, 0, 0.0, 0)]


@given(reported=st.integers(0, 1000), cum=st.integers(0, 1000),
       over=st.sampled_from([0, FILL_FILLED, FILL_CANCELLED, FILL_REJECTED]))
def test_missing_reports_never_books_more_than_the_venue_traded(reported: int, cum: int,
                                                                over: int) -> None:
    """What was reported plus what is added never exceeds the venue's CumQty (when the
    reports were behind) and is never negative; an order over at the venue ends over."""
    rows = missing_reports(_answer(over=over, cum=cum), reported)
    added = sum(r[2] for r in rows)
    assert added >= 0 and reported + added <= max(cum, reported)
    if over:
        assert rows and rows[-1][0] == over


@settings(max_examples=50, deadline=None)
@given(ops=st.lists(st.tuples(st.integers(0, 30), st.booleans()), max_size=60),
       capacity=st.integers(4, 16))
def test_execstore_when_reopened_knows_published_ids_only(tmp_path_factory: object,
                                                         ops: list[tuple[int, bool]],
                                                         capacity: int) -> None:
    """A kill may come after add (pending) with the report on the ring or not: reopened, the
    store knows every id whose report is on the ring (within its capacity) and none whose
    report never got there."""
    path = Path(tmp_path_factory.mktemp("x"))  # type: ignore[attr-defined]
    state = StateDir.create(path / "state")
    store, ring, known = ExecStore(state, "e", capacity), [], []
    lost = None
    for n, (key, published) in enumerate(ops):
        k = digest(f"exec-{key}-{n}")
        store.add(k, len(ring), 7, n)
        if published:
            ring.append((7, n))
            store.commit()
            known.append(k)
        else:
            lost = k  # the kill: the entry stays pending, nothing on the ring
            break
    again = ExecStore(state, "e", capacity)
    again.load(lambda pos, order, ours: 0 <= pos < len(ring) and ring[pos] == (order, ours))
    for k in known[-capacity:]:
        assert k in again
    assert lost is None or lost not in again
