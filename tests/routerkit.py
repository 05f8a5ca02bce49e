"""Building routers over in-process simulated venues for the router's unit and property tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from engines.execution._orders import DECISION_READ, OrderManager, Quote, VenueParams
from engines.execution._routedvenues import RoutedVenue
from engines.execution._router import Router
from engines.execution._routing import parse_routing
from engines.execution._simvenue import SimulatedVenue
from engines.venue import Row
from shm.layout import DECISION, FILL_REJECTED, REASON_VENUE, TIF_IOC, VERDICT_APPROVED


class RefusingVenue(SimulatedVenue):
    """A venue that refuses every new order (REASON_VENUE), as a gateway's venue may."""

    def send_new(self, decision: Row, now_ns: int, out: list[Row]) -> None:
        self.om.report(decision, FILL_REJECTED, REASON_VENUE, now_ns, out)


def make_router(venues: dict[str, dict[str, Any]], quotes: dict[int, Quote],
                refusing: frozenset[str] = frozenset(),
                down: frozenset[str] = frozenset()) -> Router:
    """A router over `venues` (routing tables, in route order) with a gate of 8 strategies."""
    base = VenueParams()
    routed = []
    for config in parse_routing(list(venues), venues, "test.params"):
        v = RoutedVenue.simulated(config, base, quotes)
        if config.name in refusing:
            v = RoutedVenue(config, RefusingVenue(config.name, v.venue.om, quotes))
        if config.name in down:
            v.venue.halt()
        routed.append(v)
    return Router(routed, OrderManager(base, [0] * 8), quotes)


def decision(counter: int, qty: int, side: int = 1, price: float = 100.02,
             tif: int = TIF_IOC) -> tuple[Any, ...]:
    """A DECISION_READ row of strategy 1, symbol 0, approved, created at ts 0."""
    d = np.zeros(1, DECISION)
    for name, value in (("order_id", (1 << 40) | counter), ("strategy_id", 1), ("side", side),
                        ("type", 1), ("tif", tif), ("qty", qty), ("price", price),
                        ("ts_ns", 0), ("verdict", VERDICT_APPROVED)):
        d[name] = value
    return DECISION_READ.struct.unpack(d.tobytes())
