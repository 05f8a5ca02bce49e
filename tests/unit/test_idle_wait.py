"""The runner's idle wait over a real ring: the post-work spin budget (spin_us) and parking."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engines._idle import IdleWait
from nautilusd.config import WaitKind
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


def _idle(reader: _CountingReader, spin_s: float) -> tuple[IdleWait, int, int]:
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    return IdleWait(WaitKind.BLOCKING, [reader], [], r, lambda: None, spin_s=spin_s), r, w


def test_wait_after_work_when_record_comes_within_spin_budget_never_parks(ring):
    """A record published 50 ms into a 10 s spin budget is seen by the spin: no park."""
    writer, reader = ring
    idle, r, w = _idle(reader, spin_s=10.0)
    timer = threading.Timer(0.05, lambda: writer.write(np.zeros(1, TICK)))
    timer.start()
    try:
        idle.wait(30.0, after_work=True)
    finally:
        timer.join()
        os.close(r)
        os.close(w)
    assert reader.available() == 1
    assert reader.parks == 0


def test_wait_spin_budget_is_capped_by_the_timeout_then_parks(ring):
    """With nothing to read, a 60 s budget gives way to a 50 ms timeout: one park, then back
    (the test's own 20 s timeout fails it if the budget were spun out)."""
    _, reader = ring
    idle, r, w = _idle(reader, spin_s=60.0)
    try:
        idle.wait(0.05, after_work=True)
    finally:
        os.close(r)
        os.close(w)
    assert reader.parks == 1 and reader.available() == 0


def test_wait_when_no_work_before_parks_at_once_whatever_the_budget(ring):
    """The spin follows work only: an engine idle since its last wait goes straight to sleep."""
    writer, reader = ring
    idle, r, w = _idle(reader, spin_s=60.0)
    timer = threading.Timer(0.05, lambda: writer.write(np.zeros(1, TICK)))
    timer.start()
    try:
        idle.wait(10.0, after_work=False)
    finally:
        timer.join()
        os.close(r)
        os.close(w)
    assert reader.parks == 1 and reader.available() == 1
