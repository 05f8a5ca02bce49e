"""The runner's idle wait over a real ring: the post-work spin budget (spin_us), the hot spin
(spin = "hot") and parking."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engines.idle import IdleWait
from shm import WaitKind
from shm.layout import TICK
from shm.ring import Ring, RingReader, RingWriter

pytestmark = pytest.mark.timeout(20)


class _CountingReader:
    """The real reader, with its park() calls counted (what the wait did, not how long)."""

    def __init__(self, reader: RingReader) -> None:
        self.reader, self.parks = reader, 0

    def park(self) -> int:
        self.parks += 1
        return self.reader.park()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reader, name)


@pytest.fixture
def ring(shm_dir: Path) -> Iterator[tuple[RingWriter, _CountingReader]]:
    seg = Ring.create("nautilusd.t.idle", TICK, 64, "block", directory=shm_dir, readers=1)
    writer = RingWriter.attach("nautilusd.t.idle", TICK, directory=shm_dir)
    reader = RingReader.attach("nautilusd.t.idle", TICK, 0, directory=shm_dir)
    try:
        yield writer, _CountingReader(reader)
    finally:
        reader.close()
        writer.close()
        seg.destroy()


@pytest.fixture
def stop_fd() -> Iterator[int]:
    """The read end of a stop pipe, as the runner gives IdleWait (nobody writes to it here)."""
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    yield r
    os.close(r)
    os.close(w)


def _wait(reader: _CountingReader, stop_fd: int, spin_s: float, timeout_s: float,
          after_work: bool, write_after_s: float | None = None,
          writer: RingWriter | None = None, hot: bool = False) -> None:
    """One IdleWait.wait; with `write_after_s`, a record is published that long into it."""
    idle = IdleWait(WaitKind.BLOCKING, [reader], [], stop_fd, lambda: None, spin_s=spin_s,
                    hot=hot)
    timer = None
    if write_after_s is not None and writer is not None:
        timer = threading.Timer(write_after_s, lambda: writer.write(np.zeros(1, TICK)))
        timer.start()
    try:
        idle.wait(timeout_s, after_work=after_work)
    finally:
        if timer is not None:
            timer.join()


def test_wait_after_work_when_record_comes_within_spin_budget_never_parks(ring, stop_fd):
    """A record published 50 ms into a 10 s spin budget is seen by the spin: no park."""
    writer, reader = ring
    _wait(reader, stop_fd, spin_s=10.0, timeout_s=30.0, after_work=True,
          write_after_s=0.05, writer=writer)
    assert reader.available() == 1
    assert reader.parks == 0


def test_wait_spin_budget_is_capped_by_the_timeout_then_parks(ring, stop_fd):
    """With nothing to read, a 60 s budget gives way to a 50 ms timeout: one park, then back
    (the test's own 20 s timeout fails it if the budget were spun out)."""
    _, reader = ring
    _wait(reader, stop_fd, spin_s=60.0, timeout_s=0.05, after_work=True)
    assert reader.parks == 1 and reader.available() == 0


def test_wait_when_no_work_before_parks_at_once_whatever_the_budget(ring, stop_fd):
    """The spin follows work only: an engine idle since its last wait goes straight to sleep."""
    writer, reader = ring
    _wait(reader, stop_fd, spin_s=60.0, timeout_s=10.0, after_work=False,
          write_after_s=0.05, writer=writer)
    assert reader.parks == 1 and reader.available() == 1


@pytest.mark.parametrize("hot", [False, True])
def test_wait_after_work_when_hot_looks_without_giving_the_core_away(
    ring, stop_fd, monkeypatch, hot: bool,
) -> None:
    """A record 50 ms into the spin is seen either way; only the yielding spin calls
    sched_yield between looks, the hot one never does (it stays on the core)."""
    writer, reader = ring
    yields = []
    real_yield = os.sched_yield
    monkeypatch.setattr(os, "sched_yield", lambda: (yields.append(1), real_yield())[1])
    _wait(reader, stop_fd, spin_s=10.0, timeout_s=30.0, after_work=True,
          write_after_s=0.05, writer=writer, hot=hot)
    assert reader.available() == 1 and reader.parks == 0
    assert (len(yields) == 0) if hot else (len(yields) > 0)


def test_after_work_yield_when_hot_spin_with_budget_only(ring, stop_fd) -> None:
    """The runner hands the core over after work only for a hot spin that has a budget."""
    _, reader = ring

    def idle(kind: WaitKind, spin_s: float, hot: bool) -> IdleWait:
        return IdleWait(kind, [reader], [], stop_fd, lambda: None, spin_s=spin_s, hot=hot)

    assert idle(WaitKind.BLOCKING, 0.002, True).after_work_yield
    assert not idle(WaitKind.BLOCKING, 0.002, False).after_work_yield
    assert not idle(WaitKind.BLOCKING, 0.0, True).after_work_yield
    assert not idle(WaitKind.YIELDING, 0.002, True).after_work_yield
