"""The router against its invariants, over random venues (fees, displayed size, down, refusing)
and parents: children never exceed the parent, no child to a venue down or twice to one venue,
price after fees monotone in the order chosen, a refused child re-routed, one last report."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from routerkit import decision, make_router

from engines.execution._fees import better_first_key
from engines.execution._router import ROUTED_WRITTEN as R
from engines.execution._router import marketable
from shm.layout import (
    FILL_CANCELLED,
    FILL_CHILD_REJECTED,
    FILL_EXPIRED,
    FILL_FILLED,
    FILL_PARTIAL,
    FILL_REJECTED,
    FILL_ROUTED,
    REASON_VENUE,
    TIF_FOK,
    TIF_IOC,
)

pytestmark = pytest.mark.timeout(120)
FINAL = {FILL_FILLED, FILL_EXPIRED, FILL_REJECTED, FILL_CANCELLED}

venue_st = st.fixed_dictionaries({
    "display_fraction": st.sampled_from([0.05, 0.25, 0.5, 1.0]),
    "taker_bps": st.sampled_from([0.0, 0.2, 1.0, 5.0]),
    "per_share": st.sampled_from([0.0, 0.001, 0.01]),
    "down": st.booleans(), "refusing": st.booleans()})
parent_st = st.tuples(st.sampled_from([1, -1]), st.integers(1, 2_000),
                      st.sampled_from([-0.05, 0.0, 0.02, 1.0]), st.sampled_from([TIF_IOC, TIF_FOK]))


@settings(max_examples=300, deadline=None)
@given(st.lists(venue_st, min_size=1, max_size=4), st.integers(0, 1_000),
       st.lists(parent_st, min_size=1, max_size=6))
def test_router_invariants_hold_for_any_venues_and_parents(
        specs: list[dict[str, Any]], touch_size: int, parents: list[tuple[int, int, float, int]]
) -> None:
    """Each parent: its children's quantity (a refused child counting what it filled) is at
    most the parent's; no child goes to a venue down or twice to a venue; the chosen order is
    monotone in price after fees (FOK: a venue showing all of it first); a refused child is
    re-routed when a venue is left to take it; exactly one last report, FILLED only when
    every share traded."""
    names = [f"v{i}" for i in range(len(specs))]
    venues = {n: {"kind": "simulated", **{k: s[k] for k in ("display_fraction", "taker_bps",
                                                              "per_share")}}
              for n, s in zip(names, specs, strict=True)}
    down = frozenset(n for n, s in zip(names, specs, strict=True) if s["down"])
    refusing = frozenset(n for n, s in zip(names, specs, strict=True) if s["refusing"])
    quotes = {0: (99.99, 100.01, touch_size, touch_size)}
    router = make_router(venues, quotes, refusing, down)
    fees = {v.config.venue_id: v.config.fees for v in router.venues}
    for counter, (side, qty, offset, tif) in enumerate(parents, start=1):
        limit = (100.01 + offset) if side > 0 else (99.99 - offset)
        out: list[tuple[Any, ...]] = []
        router.send_new(decision(counter, qty, side=side, price=limit, tif=tif), 10, out)
        sent: dict[int, int] = {}  # venue_id -> child qty
        filled_by: dict[int, int] = {}
        refused: set[int] = set()
        keys: list[tuple[bool, float]] = []
        for r in out:
            vid, status = r[R.venue_id], r[R.status]
            if status == FILL_ROUTED:
                assert vid not in sent, f"child sent twice to venue {vid}"
                assert names[vid - 1] not in down, f"child sent to down venue {vid}"
                sent[vid] = r[R.leaves_qty]
                taker = marketable(side, r[R.price], limit, False)
                after = better_first_key(side, r[R.price],
                                         fees[vid].per_share_fee(r[R.price], taker))
                # FOK: a venue that can fill it all (marketable, showing the whole) comes first
                shown = max(1, int(touch_size * specs[vid - 1]["display_fraction"])) \
                    if touch_size else 0
                whole = tif == TIF_FOK and taker and shown >= qty
                keys.append((tif == TIF_FOK and not whole, after))
            elif status == FILL_CHILD_REJECTED:
                assert r[R.reason] == REASON_VENUE
                refused.add(vid)
            elif status in (FILL_PARTIAL, FILL_FILLED):
                filled_by[vid] = filled_by.get(vid, 0) + r[R.qty]
        held = sum(filled_by.get(v, 0) if v in refused else q for v, q in sent.items())
        assert held <= qty
        assert keys == sorted(keys), "venues not chosen best price after fees first"
        finals = [r for r in out if r[R.status] in FINAL]
        assert len(finals) == 1 and finals[0] is out[-1]
        total = sum(filled_by.values())
        assert (finals[0][R.status] == FILL_FILLED) == (total == qty)
        up_left = [i + 1 for i, n in enumerate(names) if n not in down and i + 1 not in sent]
        touch = quotes[0][1] if side > 0 else quotes[0][0]
        if tif == TIF_IOC and touch_size and marketable(side, touch, limit, False) \
                and total < qty:  # a remainder (refused or not shown): every venue up tried
            assert not up_left, f"venues {up_left} up and untried, {qty - total} left"
        assert not router.working()
