"""The venue interface: what an execution engine drives and a venue gateway implements (the
simulated venue in engines.execution, a FIX session, a user's own), and its session states.

Requests go in as the ring tuples risk decided (a DECISION_READ row for a new order, an
AMEND_READ row for a cancel or replace); every report comes out as a FILL_WRITTEN row on the
caller's list, in the order the venue made them (acks, rejects with a reason, fills,
cancels, replaces, expiries). While the session is not UP nothing is sent: a new order is
answered FILL_REJECTED with REASON_VENUE_DOWN at once (fail closed); after a reconnect the
venue recovers (resends or reconciles what was in flight) before it reports UP again.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol, runtime_checkable

Row = tuple[Any, ...]
# A gateway's session on the bus, for risk: {"venue": name, "up": bool} under
# trading.venues.<name>, on every change and every SESSION_INTERVAL_S.
SESSION_TOPIC = "trading.venues."
SESSION_INTERVAL_S = 1.0


class SessionState(enum.Enum):
    DOWN = "down"  # no session: nothing can be sent
    CONNECTING = "connecting"  # transport or logon under way
    RECOVERING = "recovering"  # logged on, resending or reconciling before trading again
    UP = "up"  # orders may be sent


@runtime_checkable
class Venue(Protocol):
    """One venue behind an execution engine."""

    name: str

    def session_state(self) -> SessionState:
        """The session as of now (only UP takes orders)."""
        ...

    def send_new(self, decision: Row, now_ns: int, out: list[Row]) -> None:
        """Send one approved new order, or report why not (FILL_REJECTED / FILL_EXPIRED)."""
        ...

    def send_cancel(self, amend: Row, now_ns: int, out: list[Row]) -> None:
        """Send one approved cancel, or report why not (FILL_AMEND_REJECTED)."""
        ...

    def send_replace(self, amend: Row, now_ns: int, out: list[Row]) -> None:
        """Send one approved replace, or report why not (FILL_AMEND_REJECTED)."""
        ...

    def poll(self, now_ns: int, out: list[Row]) -> None:
        """Receive: whatever the venue reported since the last call, appended to `out`."""
        ...

    def recover(self, now_ns: int, out: list[Row]) -> None:
        """After a reconnect: bring the open orders back in line with the venue's."""
        ...

    def next_wakeup_s(self, now_ns: int) -> float | None:
        """When poll() has timed work (latency, heartbeats), or None."""
        ...
