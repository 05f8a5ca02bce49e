"""The runner's idle wait: a short yielding spin after work, then park on the doorbells.

A wake-up through a doorbell costs tens of microseconds on a shared box, while the next record
of a burst often arrives within a few: so poll briefly first, giving the core away in between.
How long is the engine's `spin_us` (default shm.wait.BLOCKING_SPIN_S): a budget as long as the
gap between records keeps an order-path engine awake while the market trades, and still lets
it sleep (no CPU) once the flow stops. A hot spin (the engine's `spin = "hot"`) looks without
giving the core away, so the engine stays cached and sees a record within one look; its runner
gives the core away once after each poll that did work instead (`after_work_yield`), which
hands the core to a reader of that output sharing it.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable, Sequence

import zmq

from engines.base import Pollable
from shm import Blocking, RingReader, ring_paths
from shm.wait import BLOCKING_SPIN_S, WaitKind

SPIN_S = BLOCKING_SPIN_S  # after work, watch the rings this long before parking


def _stay() -> None:
    """A hot spin's pause between looks: none (it keeps the core)."""


class IdleWait:
    """`wait(timeout_s, after_work)` for one engine; the pollables are fixed at construction.

    `readers` are the rings whose doorbells wake the engine, `handles` extra pollables (zmq
    sockets or fds). Without handles the wait is a select.poll on plain fds (cheaper than
    zmq_poll); with them a zmq.Poller watches both kinds."""

    def __init__(self, kind: WaitKind, readers: Sequence[RingReader], handles: Sequence[Pollable],
                 stop_fd: int, on_stop_fd: Callable[[], None], spin_s: float | None = None,
                 hot: bool = False) -> None:
        self.kind = kind
        self.readers = tuple(readers)
        self.stop_fd = stop_fd
        self.on_stop_fd = on_stop_fd
        self.parks = kind in (WaitKind.BLOCKING, WaitKind.SLEEPING)
        spin_s = SPIN_S if spin_s is None else spin_s
        self.spin_ns = int(spin_s * 1e9) if kind is WaitKind.BLOCKING and readers else 0
        self.hot = hot and self.spin_ns > 0
        self.after_work_yield = self.hot  # the runner's hand-over (module doc)
        # The Python ring paths cannot fence park against publish (shm.wait.Blocking): a
        # missed wake-up is bounded by re-checking this often; the compiled paths need none.
        self.recheck_s = None if ring_paths() == "compiled" else Blocking().recheck_s
        fds = (stop_fd, *(r.fileno() for r in self.readers))
        self._poll: Callable[[int], Sequence[tuple[object, int]]]
        if handles:
            zpoller = zmq.Poller()
            for pollable in (*fds, *handles):
                zpoller.register(pollable, zmq.POLLIN)
            self._poll = zpoller.poll
        else:
            poller = select.poll()
            for fd in fds:
                poller.register(fd, select.POLLIN)
            self._poll = poller.poll
        # poll() counts in milliseconds; select() takes microseconds: producers pacing below a
        # millisecond (marketdata at 1 kHz and up) would otherwise always wait a whole one.
        self._fine_fds = None if handles else list(fds)

    def wait(self, timeout_s: float, after_work: bool) -> None:
        """Idle until input, `timeout_s` or a signal (per the wait kind)."""
        kind = self.kind
        if kind is WaitKind.BUSY_SPIN:
            return
        if kind is WaitKind.YIELDING:
            os.sched_yield()
            return
        if kind is WaitKind.SLEEPING:
            timeout_s = min(timeout_s, 0.001)
        if timeout_s <= 0:
            return
        if after_work and self.spin_ns and self._spin(min(self.spin_ns, int(timeout_s * 1e9))):
            return
        if self.recheck_s is not None and self.readers:
            timeout_s = min(timeout_s, self.recheck_s)
        self._park(timeout_s)

    def _spin(self, budget_ns: int) -> bool:
        """Watch the readers for up to budget_ns, yielding between looks unless hot; True if
        input came."""
        readers, clock = self.readers, time.perf_counter_ns
        pause = _stay if self.hot else os.sched_yield  # between looks
        deadline = clock() + budget_ns
        while True:
            for reader in readers:
                if reader.available():
                    return True
            if clock() >= deadline:
                return False
            pause()

    def _park(self, timeout_s: float) -> None:
        readers = self.readers
        try:
            # park() re-checks after setting the flag: a record published before the park
            # rang no doorbell, so sleep only when every reader is still empty.
            pending = 0
            for reader in readers:
                pending += reader.park()
            if not pending:
                woke: Sequence[object]
                if timeout_s < 0.001 and self._fine_fds is not None:
                    woke = select.select(self._fine_fds, [], [], timeout_s)[0]
                else:
                    woke = [fd for fd, _ in self._poll(max(1, int(timeout_s * 1000)))]
                if self.stop_fd in woke:
                    self.on_stop_fd()
        finally:
            for reader in readers:
                reader.unpark()
