"""Which venues risk will approve orders for: each gateway publishes its session on the bus
(`trading.venues.<name>`, {"venue", "up"}) when it changes and every second; a venue is up
only while its last word was up and is fresher than the timeout. Nothing heard is down.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from engines.venue import SESSION_TOPIC as TOPIC

__all__ = ["TOPIC", "VenueWatch", "venue_names"]


class VenueWatch:
    def __init__(self, names: tuple[str, ...], timeout_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.names, self.timeout_s, self.clock = names, timeout_s, clock
        self.last_up: dict[str, float] = {}  # venue -> when it last said it was up

    def on_message(self, payload: Mapping[str, Any]) -> None:
        name = payload.get("venue")
        if name not in self.names:
            return
        if payload.get("up") is True:
            self.last_up[name] = self.clock()
        else:
            self.last_up.pop(name, None)

    def down(self) -> list[str]:
        """The venues not up now (silent past the timeout, said down, or never heard)."""
        now = self.clock()
        return [n for n in self.names
                if n not in self.last_up or now - self.last_up[n] > self.timeout_s]


def venue_names(raw: str) -> tuple[str, ...]:
    """The `venues` param ("fixgw, other") as names; "" is none (nothing is watched)."""
    return tuple(n.strip() for n in raw.split(",") if n.strip())
