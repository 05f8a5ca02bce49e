"""The runner's loop gives an engine's idle work its turn under input that never stops:
after a busy poll, once `Engine.overdue_ns` is reached, it calls `on_overdue`."""

from __future__ import annotations

import itertools
import signal
import time
from pathlib import Path

import pytest

from engines.base import Engine
from engines.harness import Harness
from engines.runner import _Loop, _StopSignal

pytestmark = pytest.mark.timeout(30)
STOP_AFTER = 3


class BusyEngine(Engine):
    """Every poll has work; the idle work (on_overdue) is due every 2 ms."""

    def on_start(self) -> None:
        self.polls = 0
        self.overdue_calls: list[tuple[int, int]] = []
        self.stop: _StopSignal | None = None
        self.overdue_ns = time.monotonic_ns() + 2_000_000
        self.deadline = time.monotonic() + 10

    def poll(self) -> int:
        self.polls += 1
        if self.stop is not None and (len(self.overdue_calls) >= STOP_AFTER
                                      or time.monotonic() > self.deadline):
            self.stop.requested = True
        return 1

    def on_overdue(self, now_ns: int) -> None:
        self.overdue_calls.append((self.polls, now_ns))
        self.overdue_ns = now_ns + 2_000_000


def test_loop_when_every_poll_is_busy_calls_on_overdue_once_due(
        shm_dir: Path, runtime_dir: Path) -> None:
    """A busy engine gets on_overdue at the deadline it set (each one at or after it), never
    twice for one deadline, without a single idle poll."""
    with Harness(shm_dir, runtime_dir, {}) as h:
        eng = h.engine(f"{__name__}:BusyEngine", "busy", (), ())
        assert isinstance(eng, BusyEngine)
        stop = _StopSignal()
        try:
            eng.stop = stop
            _Loop(eng, h.contexts[-1], stop).run()
        finally:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
        calls = eng.overdue_calls
        assert len(calls) >= STOP_AFTER, f"{len(calls)} on_overdue in {eng.polls} busy polls"
        stamps = [at for _, at in calls]
        assert all(b - a >= 2_000_000 for a, b in itertools.pairwise(stamps))
        assert [p for p, _ in calls] == sorted({p for p, _ in calls})  # one call per poll at most

