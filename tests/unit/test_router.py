"""The router (engines.execution._router): split by displayed size, best price after fees
first, remainder expired, down venues skipped, refused children re-routed, the parent's
reports folded from its children."""

from __future__ import annotations

from typing import Any

import numpy as np
from routerkit import decision, make_router

from engines.execution import AMEND_READ
from engines.execution._orders import fill_records
from engines.execution._router import ROUTED_WRITTEN as R
from engines.journal import routes
from shm.layout import (
    AMEND,
    AMEND_CANCEL,
    FILL_ACCEPTED,
    FILL_CANCELLED,
    FILL_CHILD_REJECTED,
    FILL_EXPIRED,
    FILL_FILLED,
    FILL_PARTIAL,
    FILL_REJECTED,
    FILL_ROUTED,
    REASON_VENUE,
    REASON_VENUE_DOWN,
    TIF_DAY,
    VERDICT_APPROVED,
)

QUOTES = {0: (99.99, 100.01, 300, 300)}
# lit_a shows 60 of the 300 for free; lit_b shows 150 at 0.001 a share; lit_c all at 0.01.
VENUES: dict[str, dict[str, Any]] = {
    "lit_a": {"kind": "simulated", "display_fraction": 0.2},
    "lit_b": {"kind": "simulated", "display_fraction": 0.5, "per_share": 0.001},
    "lit_c": {"kind": "simulated", "per_share": 0.01},
}


def summary(out: list[tuple[Any, ...]]) -> list[tuple[int, int, int, int, int]]:
    """(status, venue_id, child, qty, leaves_qty) of each report."""
    return [(r[R.status], r[R.venue_id], r[R.child], r[R.qty], r[R.leaves_qty]) for r in out]


def test_route_when_ioc_larger_than_best_venue_splits_by_displayed_size() -> None:
    """100 to buy: 60 at lit_a (no fee), the 40 left at lit_b (next after fees): filled."""
    router, out = make_router(VENUES, dict(QUOTES)), []
    router.send_new(decision(1, 100), 10, out)
    assert summary(out) == [(FILL_ROUTED, 1, 1, 0, 60), (FILL_PARTIAL, 1, 1, 60, 40),
                            (FILL_ROUTED, 2, 2, 0, 40), (FILL_FILLED, 2, 2, 40, 0)]
    assert not router.working()


def test_route_when_displayed_size_short_expires_the_remainder() -> None:
    """600 to buy, 60 + 150 + 300 shown: 510 traded, the 90 no venue shows expire (leaves 0)."""
    router, out = make_router(VENUES, dict(QUOTES)), []
    router.send_new(decision(1, 600), 10, out)
    assert [r[R.qty] for r in out if r[R.status] == FILL_PARTIAL] == [60, 150, 300]
    assert summary(out)[-1] == (FILL_EXPIRED, 0, 0, 0, 0)


def test_route_when_fees_reorder_prefers_the_cheaper_venue_after_fees() -> None:
    """A sell: lit_c's 0.01 fee makes it the worst though it shows the most; lit_a first."""
    router, out = make_router(VENUES, dict(QUOTES)), []
    router.send_new(decision(1, 250, side=-1, price=99.98), 10, out)
    assert [r[R.venue_id] for r in out if r[R.status] == FILL_ROUTED] == [1, 2, 3]


def test_route_when_venue_down_never_sends_to_it() -> None:
    """lit_a halted: the order goes to lit_b and lit_c only."""
    router, out = make_router(VENUES, dict(QUOTES), down=frozenset({"lit_a"})), []
    router.send_new(decision(1, 100), 10, out)
    assert [r[R.venue_id] for r in out if r[R.status] == FILL_ROUTED] == [2]


def test_route_when_every_venue_down_rejects_venue_down() -> None:
    """Fail closed: no venue up, nothing sent, the parent rejected REASON_VENUE_DOWN."""
    router, out = make_router(VENUES, dict(QUOTES), down=frozenset(VENUES)), []
    router.send_new(decision(1, 100), 10, out)
    assert [(r[R.status], r[R.reason]) for r in out] == [(FILL_REJECTED, REASON_VENUE_DOWN)]


def test_route_when_child_refused_reroutes_it_to_the_next_venue_once() -> None:
    """lit_a refuses its 60: a FILL_CHILD_REJECTED; lit_b takes its 40 as planned, and the 60
    go to lit_c, the one venue not tried yet (never to lit_b a second time)."""
    router, out = make_router(VENUES, dict(QUOTES), refusing=frozenset({"lit_a"})), []
    router.send_new(decision(1, 100), 10, out)
    assert summary(out) == [
        (FILL_ROUTED, 1, 1, 0, 60), (FILL_CHILD_REJECTED, 1, 1, 0, 0),
        (FILL_ROUTED, 2, 2, 0, 40), (FILL_PARTIAL, 2, 2, 40, 60),
        (FILL_ROUTED, 3, 3, 0, 60), (FILL_FILLED, 3, 3, 60, 0)]
    assert out[1][R.reason] == REASON_VENUE


def test_route_when_every_venue_refuses_rejects_the_parent_with_the_venue_reason() -> None:
    """Three refusals, no venue left: the parent is rejected, each venue tried once."""
    router, out = make_router(VENUES, dict(QUOTES), refusing=frozenset(VENUES)), []
    router.send_new(decision(1, 100), 10, out)
    assert [r[R.venue_id] for r in out if r[R.status] == FILL_ROUTED] == [1, 2, 3]
    assert (out[-1][R.status], out[-1][R.reason]) == (FILL_REJECTED, REASON_VENUE)


def test_route_when_resting_order_goes_whole_to_one_venue_and_is_cancelled_there() -> None:
    """A DAY bid under the touch rests at lit_a (no maker fee); a cancel reaches lit_a."""
    router, out = make_router(VENUES, dict(QUOTES)), []
    router.send_new(decision(1, 500, price=99.0, tif=TIF_DAY), 10, out)
    assert summary(out) == [(FILL_ROUTED, 1, 1, 0, 500), (FILL_ACCEPTED, 1, 1, 0, 500)]
    amend = np.zeros(1, AMEND)
    amend[["amend_id", "order_id", "strategy_id", "action", "side", "verdict"]] = (
        (1 << 40) | 2, (1 << 40) | 1, 1, AMEND_CANCEL, 1, VERDICT_APPROVED)
    out.clear()
    router.send_amend(AMEND_READ.struct.unpack(amend.tobytes()), 20, out)
    assert summary(out) == [(FILL_CANCELLED, 1, 1, 0, 0)]
    assert not router.working()


def test_route_when_parent_seen_twice_routes_it_once() -> None:
    """The gate's marks take each parent once: a copy is counted a duplicate, never sent."""
    router, out = make_router(VENUES, dict(QUOTES)), []
    router.send_new(decision(1, 10), 10, out)
    n = len(out)
    router.send_new(decision(1, 10), 11, out)
    assert len(out) == n and router.gate.duplicates == 1


def test_routes_when_reports_written_reconstruct_parent_and_children() -> None:
    """The reports as FILL records (what the journal keeps) give the parent and its children."""
    router, out = make_router(VENUES, dict(QUOTES), refusing=frozenset({"lit_a"})), []
    router.send_new(decision(1, 100), 10, out)
    (parent,) = routes(fill_records(out, R)).values()
    assert parent.order_id == (1 << 40) | 1 and parent.filled == 100
    assert parent.final_status == FILL_FILLED
    assert [(c.child, c.venue_id, c.qty, c.filled, c.refused) for c in parent.children] == [
        (1, 1, 60, 0, REASON_VENUE), (2, 2, 40, 40, None), (3, 3, 60, 60, None)]
