"""Wait strategies for ring readers and writers: busy-spin, yielding, sleeping, blocking.

A strategy waits until `ready()` returns a positive count or the timeout passes. Blocking
parks a reader on its doorbell FIFO (via a `Parker`); without a parker it sleeps with backoff.
"""

from __future__ import annotations

import enum
import os
import select
import time
from collections.abc import Callable
from typing import ClassVar, Protocol

from shm.errors import ShmError

_CLOCK_CHECK_EVERY = 64  # busy loops read the clock only this often
# How long a blocking wait watches for input before parking: a doorbell wake-up costs tens of
# microseconds, while the next record of a burst usually comes within a few.
BLOCKING_SPIN_S = 20e-6


class Parker(Protocol):
    """What Blocking needs from a reader: set/clear its parked flag and its doorbell fd."""

    def park(self) -> int: ...
    def unpark(self) -> None: ...
    def fileno(self) -> int: ...


class WaitKind(enum.Enum):
    """The wait strategies by name: the `wait` of an engine's config, the `kind` of each."""

    BUSY_SPIN = "busy_spin"
    YIELDING = "yielding"
    SLEEPING = "sleeping"
    BLOCKING = "blocking"


def _deadline(timeout_s: float | None) -> float:
    return float("inf") if timeout_s is None else time.monotonic() + timeout_s


class WaitStrategy:
    """Base class: `wait(ready, timeout_s, parker)` returns ready()'s last (possibly 0) value."""

    kind: ClassVar[WaitKind]

    def wait(
        self, ready: Callable[[], int], timeout_s: float | None, parker: Parker | None = None
    ) -> int:
        raise NotImplementedError


class BusySpin(WaitStrategy):
    """Poll without pause: lowest latency, burns a whole core (dedicated cores only)."""

    kind = WaitKind.BUSY_SPIN

    def wait(
        self, ready: Callable[[], int], timeout_s: float | None, parker: Parker | None = None
    ) -> int:
        deadline = _deadline(timeout_s)
        while True:
            for _ in range(_CLOCK_CHECK_EVERY):
                n = ready()
                if n > 0:
                    return n
            if time.monotonic() >= deadline:
                return ready()


class Yielding(WaitStrategy):
    """Spin briefly, then give the core away with sched_yield between polls."""

    kind = WaitKind.YIELDING

    def __init__(self, spins: int = 100) -> None:
        self.spins = spins

    def wait(
        self, ready: Callable[[], int], timeout_s: float | None, parker: Parker | None = None
    ) -> int:
        deadline = _deadline(timeout_s)
        for _ in range(self.spins):
            n = ready()
            if n > 0:
                return n
        yield_ = os.sched_yield
        while True:
            for _ in range(_CLOCK_CHECK_EVERY):
                yield_()
                n = ready()
                if n > 0:
                    return n
            if time.monotonic() >= deadline:
                return ready()


class Sleeping(WaitStrategy):
    """Spin, yield, then sleep with an exponential backoff from min_sleep_s to max_sleep_s."""

    kind = WaitKind.SLEEPING

    def __init__(self, spins: int = 100, yields: int = 100, min_sleep_s: float = 50e-6,
                 max_sleep_s: float = 1e-3) -> None:
        self.spins = spins
        self.yields = yields
        self.min_sleep_s = min_sleep_s
        self.max_sleep_s = max_sleep_s

    def wait(
        self, ready: Callable[[], int], timeout_s: float | None, parker: Parker | None = None
    ) -> int:
        deadline = _deadline(timeout_s)
        for i in range(self.spins + self.yields):
            n = ready()
            if n > 0:
                return n
            if i >= self.spins:
                os.sched_yield()
        pause = self.min_sleep_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return ready()
            time.sleep(min(pause, left))
            pause = min(pause * 2, self.max_sleep_s)
            n = ready()
            if n > 0:
                return n


class Blocking(WaitStrategy):
    """Spin for spin_s, then park: set the parked flag, re-check, sleep on the doorbell fd.

    On the compiled ring paths the writer's cursor store and its parked-flag load, and the
    reader's flag store and cursor re-check, are separated by full fences (shm/_native.c):
    no wake-up is lost. The Python paths cannot emit one, so there a wake-up racing the park
    can be missed; `recheck_s` bounds that rare case by re-checking the cursor at least that
    often while parked (engines.idle applies the same bound to the engines' idle wait).
    """

    kind = WaitKind.BLOCKING

    def __init__(self, spin_s: float = BLOCKING_SPIN_S, recheck_s: float = 0.05) -> None:
        self.spin_s = spin_s
        self.recheck_s = recheck_s
        self._polls: dict[int, select.poll] = {}
        self._fallback = Sleeping()

    def wait(
        self, ready: Callable[[], int], timeout_s: float | None, parker: Parker | None = None
    ) -> int:
        deadline = _deadline(timeout_s)
        spin_until = time.monotonic() + min(self.spin_s, timeout_s or self.spin_s)
        while True:
            n = ready()
            if n > 0:
                return n
            if time.monotonic() >= spin_until:
                break
        if parker is None:
            left = None if timeout_s is None else max(0.0, deadline - time.monotonic())
            return self._fallback.wait(ready, left, None)
        return self._park(ready, deadline, parker)

    def _park(self, ready: Callable[[], int], deadline: float, parker: Parker) -> int:
        poller = self._poller(parker.fileno())
        while True:
            n = parker.park()
            if n > 0:
                parker.unpark()
                return n
            left = deadline - time.monotonic()
            if left <= 0:
                parker.unpark()
                return 0
            poller.poll(max(1, int(min(left, self.recheck_s) * 1000 + 0.999)))
            parker.unpark()
            n = ready()
            if n > 0:
                return n

    def _poller(self, fd: int) -> select.poll:
        poller = self._polls.get(fd)
        if poller is None:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            self._polls[fd] = poller
        return poller


_KINDS: dict[WaitKind, type[WaitStrategy]] = {
    cls.kind: cls for cls in (BusySpin, Yielding, Sleeping, Blocking)
}


def make_wait(kind: WaitKind | str | WaitStrategy | None = None) -> WaitStrategy:
    """A strategy for `kind` (a WaitKind or its value, "busy_spin" ... "blocking"); None is
    Blocking, a strategy is returned as it is."""
    if isinstance(kind, WaitStrategy):
        return kind
    if kind is None:
        return Blocking()
    try:
        return _KINDS[WaitKind(kind)]()
    except ValueError:
        known = sorted(k.value for k in WaitKind)
        raise ShmError(f"unknown wait strategy {kind!r}; known: {known}") from None
