"""Routed orders as the journal has them: each parent order with its child orders (venue,
quantity sent, filled, refused), read from the fills' FILL_ROUTED and FILL_CHILD_REJECTED
records and the venue_id / child fields every routed report carries (engines.execution._router).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shm.layout import (
    FILL_CANCELLED,
    FILL_CHILD_REJECTED,
    FILL_EXPIRED,
    FILL_FILLED,
    FILL_REJECTED,
    FILL_ROUTED,
)

_FINAL = (FILL_FILLED, FILL_CANCELLED, FILL_EXPIRED, FILL_REJECTED)


@dataclass(slots=True)
class ChildRoute:
    child: int  # 1, 2, ... in the order sent
    venue_id: int  # 1 + the venue's index in execution's `route`
    qty: int  # sent
    price: float  # the venue's touch when sent
    filled: int = 0
    refused: int | None = None  # REASON_* of the venue's refusal


@dataclass(slots=True)
class ParentRoute:
    order_id: int
    children: list[ChildRoute] = field(default_factory=list)
    filled: int = 0
    final_status: int | None = None  # the parent's last report (FILL_FILLED, FILL_EXPIRED...)

    def child(self, number: int) -> ChildRoute:
        for c in self.children:
            if c.child == number:
                return c
        raise KeyError(f"order {self.order_id:#x}: child {number} has no FILL_ROUTED record")


def routes(fills: np.ndarray) -> dict[int, ParentRoute]:
    """Every routed parent order of a FILL array (the journal's, in its order), by order id.

    A parent is routed when a FILL_ROUTED record names it; its fills count to the child they
    name, and its final report is the last FILL_FILLED / CANCELLED / EXPIRED / REJECTED."""
    out: dict[int, ParentRoute] = {}
    cols = ("order_id", "status", "venue_id", "child", "qty", "price", "leaves_qty", "reason")
    for oid, status, venue_id, child, qty, price, leaves, reason in zip(
            *(fills[c].tolist() for c in cols), strict=True):
        if status == FILL_ROUTED:
            out.setdefault(oid, ParentRoute(oid)).children.append(
                ChildRoute(child, venue_id, leaves, price))
            continue
        if oid not in out:
            continue
        parent = out[oid]
        if status == FILL_CHILD_REJECTED:
            parent.child(child).refused = reason
        elif qty > 0:
            parent.filled += qty
            parent.child(child).filled += qty
        if status in _FINAL:
            parent.final_status = status
    return out
