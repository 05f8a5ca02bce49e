"""The daemon's single-threaded event loop: readable fds and sockets in one zmq.Poller, plus timers.

Nothing in nautilusd polls for work: process exits, signals, control and bus sockets are
pollables; everything else is a timer. The clock is injectable so tests can drive time.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeAlias

import zmq

Callback = Callable[[], object]


class HasFileno(Protocol):
    """A socket, pipe or file: anything select() can watch through its fileno()."""

    def fileno(self) -> int: ...


Key: TypeAlias = "zmq.Socket[Any] | int"  # what the poller registers
Pollable: TypeAlias = "zmq.Socket[Any] | int | HasFileno"


class Timer:
    """A scheduled callback; `cancel()` is idempotent and cheap (the heap entry is skipped)."""

    __slots__ = ("callback", "cancelled", "deadline", "interval")

    def __init__(self, deadline: float, callback: Callback, interval: float | None) -> None:
        self.deadline = deadline
        self.callback = callback
        self.interval = interval
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def _key(pollable: Pollable) -> Key:
    # zmq sockets are their own key; fds and objects with fileno() are keyed by the fd.
    if isinstance(pollable, (zmq.Socket, int)):
        return pollable
    return pollable.fileno()


class EventLoop:
    """`add_reader`, `call_later`, `call_every`, then `run()` until `stop()`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._poller = zmq.Poller()
        self._readers: dict[Key, Callback] = {}
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._running = False
        self.on_error: Callable[[Exception, Callback], object] | None = None

    def now(self) -> float:
        """Monotonic seconds from the loop's clock."""
        return self._clock()

    # -- readers ------------------------------------------------------------------------------

    def add_reader(self, pollable: Pollable, callback: Callback) -> None:
        """Call `callback()` whenever `pollable` (zmq socket, fd, fileno() object) is readable."""
        key = _key(pollable)
        if key not in self._readers:
            self._poller.register(key, zmq.POLLIN)
        self._readers[key] = callback

    def remove_reader(self, pollable: Pollable) -> None:
        key = _key(pollable)
        if self._readers.pop(key, None) is not None:
            self._poller.unregister(key)

    # -- timers -------------------------------------------------------------------------------

    def call_later(self, delay_s: float, callback: Callback) -> Timer:
        timer = Timer(self.now() + max(0.0, delay_s), callback, None)
        heapq.heappush(self._timers, (timer.deadline, next(self._seq), timer))
        return timer

    def call_every(self, interval_s: float, callback: Callback) -> Timer:
        if interval_s <= 0:
            raise ValueError(f"call_every interval must be > 0 s, got {interval_s!r}")
        timer = Timer(self.now() + interval_s, callback, interval_s)
        heapq.heappush(self._timers, (timer.deadline, next(self._seq), timer))
        return timer

    def run_timers(self) -> int:
        """Run every timer that is due now; return how many ran."""
        ran = 0
        now = self.now()
        while self._timers and self._timers[0][0] <= now:
            _, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            if timer.interval is not None:
                # Re-arm from the schedule, not from now, so a periodic timer does not drift.
                timer.deadline = max(timer.deadline + timer.interval, now)
                heapq.heappush(self._timers, (timer.deadline, next(self._seq), timer))
            ran += 1
            self._call(timer.callback)
        return ran

    def next_deadline(self) -> float | None:
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    # -- running ------------------------------------------------------------------------------

    def run_once(self, max_wait_s: float | None = None) -> None:
        """Wait for one batch of readable pollables or the next timer, and dispatch."""
        deadline = self.next_deadline()
        wait = None if deadline is None else max(0.0, deadline - self.now())
        if max_wait_s is not None:
            wait = max_wait_s if wait is None else min(wait, max_wait_s)
        # Round up: a timeout of 0 ms before a timer is due would spin until it is.
        timeout_ms = None if wait is None else math.ceil(wait * 1000)
        for key, _ in self._poller.poll(timeout_ms):
            callback = self._readers.get(key)
            if callback is not None:
                self._call(callback)
        self.run_timers()

    def _call(self, callback: Callback) -> None:
        """Run one callback; an exception in it is handed to `on_error` (the daemon logs it
        with its traceback) and never ends the loop: one bad step must not stop supervision.
        Without an `on_error` (tests of the loop itself) it propagates."""
        if self.on_error is None:
            callback()
            return
        try:
            callback()
        except Exception as exc:
            self.on_error(exc, callback)

    def run(self) -> None:
        """Dispatch until `stop()` is called (from a callback)."""
        self._running = True
        while self._running:
            self.run_once()

    def stop(self) -> None:
        self._running = False

    @property
    def running(self) -> bool:
        return self._running
