"""The pipeline's notion of "now": the wall clock, or the recorded clock of a replay.

Engines ask a `Clock` instead of `time.time_ns()` where a decision depends on the time
(cooldowns, rate buckets, bar boundaries, venue latency, times to live). A `RecordedClock`
is moved by the records themselves, so a replay decides as it did when they were recorded
and never sleeps: its run time depends on the number of records, not on the span they cover.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """now_ns(): nanoseconds since the epoch, as the pipeline should see them."""

    recorded: bool

    def now_ns(self) -> int: ...


class WallClock:
    """CLOCK_REALTIME: the live pipeline's clock."""

    recorded = False

    def now_ns(self) -> int:
        return time.time_ns()


class RecordedClock:
    """The time of the latest record seen: moved by `advance`, never backwards."""

    recorded = True

    def __init__(self, start_ns: int = 0) -> None:
        self._now_ns = start_ns

    def advance(self, ts_ns: int) -> None:
        """A record stamped `ts_ns` was seen (an older stamp leaves the clock where it is)."""
        if ts_ns > self._now_ns:
            self._now_ns = ts_ns

    def now_ns(self) -> int:
        return self._now_ns


def clock_named(name: str, where: str) -> WallClock | RecordedClock:
    """The clock a config names ("wall" or "recorded"); anything else is an error naming it."""
    if name == "wall":
        return WallClock()
    if name == "recorded":
        return RecordedClock()
    raise ValueError(f"{where}: clock {name!r} is not 'wall' or 'recorded'")
