"""The venues a router drives, as it sees them: each one's routing config, the venue itself
(a simulated one in process, or a gateway engine over a pair of rings), the reports it made
since the router last looked, and what it displays at the touch; `routed_venues` builds them
from the routing section.
"""

from __future__ import annotations

from collections.abc import MutableSequence, Sequence
from dataclasses import dataclass, field
from typing import Any

from engines.base import EngineContext
from engines.execution._orders import FillRow, OrderManager, Quote, VenueParams
from engines.execution._ringvenue import RingVenue, Sessions
from engines.execution._routing import VenueConfig
from engines.execution._simvenue import SimulatedVenue
from engines.params import ParamError
from engines.venue import SESSION_TOPIC
from shm.layout import DECISION, FILL


class _AnyOrderId(MutableSequence[int]):
    """The marks of a routed venue's order manager: every order id is new there (the parents
    are deduplicated once, before routing; the router sends a parent to a venue at most once)."""

    def __len__(self) -> int:
        return 1 << 62

    def __getitem__(self, i: Any) -> Any:
        return -1

    def __setitem__(self, i: Any, value: Any) -> None:
        pass

    def __delitem__(self, i: Any) -> None:
        pass

    def insert(self, index: int, value: int) -> None:
        pass


@dataclass(slots=True)
class RoutedVenue:
    config: VenueConfig
    venue: SimulatedVenue | RingVenue
    out: list[FillRow] = field(default_factory=list)

    def accepts(self, row: tuple[Any, ...]) -> bool:
        """Whether this venue can be sent the order now (a gateway: ids in order only)."""
        return not isinstance(self.venue, RingVenue) or self.venue.accepts(row)

    def busy(self) -> bool:
        """Work for poll(): orders waiting out latency or resting, or reports to read."""
        venue = self.venue
        if isinstance(venue, RingVenue):
            return venue.busy()
        return bool(venue.om.pending or venue.om.resting)

    def pending(self) -> bool:
        venue = self.venue
        return venue.busy() if isinstance(venue, RingVenue) else bool(venue.om.pending)

    @classmethod
    def simulated(cls, config: VenueConfig, base: VenueParams,
                  quotes: dict[int, Quote]) -> RoutedVenue:
        params = VenueParams(latency_us=config.latency_us,
                             max_fill_fraction=config.display_fraction,
                             order_ttl_ms=base.order_ttl_ms,
                             self_match_prevention=base.self_match_prevention)
        om = OrderManager(params, _AnyOrderId())
        return cls(config, SimulatedVenue(config.name, om, quotes))

    def displayed(self, quote: Quote, side: int) -> tuple[float, int]:
        """The venue's touch for an order of `side`: price and the size it shows."""
        bid, ask, bid_size, ask_size = quote
        price, size = (ask, ask_size) if side > 0 else (bid, bid_size)
        if size <= 0:
            return price, 0
        return price, max(1, int(size * self.config.display_fraction))


def routed_venues(ctx: EngineContext, configs: Sequence[VenueConfig], base: VenueParams,
                  quotes: dict[int, Quote], where: str) -> list[RoutedVenue]:
    """The venues of the routing section, built: simulated ones in process, a fix one over
    its gateway's rings (named in the config; ParamError naming the key when absent)."""
    out, sessions = [], None
    for c in configs:
        if c.kind != "fix":
            out.append(RoutedVenue.simulated(c, base, quotes))
            continue
        orders, reports = ctx.writers.get(c.orders_ring), ctx.readers.get(c.reports_ring)
        if orders is None or orders.dtype != DECISION:
            raise ParamError(f"{where}.venues.{c.name}.orders_ring: {c.orders_ring!r} is not a "
                             f"decision ring this engine writes; writes {sorted(ctx.writers)}")
        if reports is None or reports.dtype != FILL:
            raise ParamError(f"{where}.venues.{c.name}.reports_ring: {c.reports_ring!r} is not "
                             f"a fill ring this engine reads; reads {sorted(ctx.readers)}")
        sessions = sessions or Sessions(ctx.subscriber([SESSION_TOPIC]))
        out.append(RoutedVenue(c, RingVenue(c.name, c.engine, orders, reports, sessions,
                                            OrderManager(base, _AnyOrderId()),
                                            c.session_timeout_s)))
    return out
