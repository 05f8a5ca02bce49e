"""The ready bell: an engine's one byte to nautilusd's FIFO once its ready flag is set, and the
supervisor seeing READY from that alone (its timer only a backstop)."""

from __future__ import annotations

import os
import random

import pytest
from supervisor_fakes import FakeClock, FakeHost, FakeTable, engine, report_ready, topology

from engines.runner import ring_ready_bell
from nautilusd.loop import EventLoop
from nautilusd.states import State
from nautilusd.supervisor import Supervisor
from shm.doorbell import Doorbell

pytestmark = pytest.mark.timeout(10)


def test_ring_when_daemon_reads_bell_one_byte_arrives(tmp_path):
    """With nautilusd's end open the engine's ring lands as one byte."""
    bell = Doorbell(tmp_path / "ready.bell")
    try:
        assert ring_ready_bell(str(bell.path))
        assert bell.drain() == 1
    finally:
        bell.close()


@pytest.mark.parametrize("kind", ["none", "missing", "regular", "symlink", "unread"])
def test_ring_when_no_bell_to_ring_returns_false_and_writes_nothing(tmp_path, kind):
    """No path, no file, a regular file, a symlink (even to a FIFO) or a FIFO nobody reads:
    nothing is written and the engine starts anyway (the supervisor's backstop finds it)."""
    target = tmp_path / "ready.bell"
    fifo = tmp_path / "real.bell"
    os.mkfifo(fifo, 0o600)
    reader = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # no EOF without a writer
    try:
        if kind == "regular":
            target.write_bytes(b"")
        elif kind == "symlink":
            target.symlink_to(fifo)
        elif kind == "unread":
            os.mkfifo(target, 0o600)
        assert not ring_ready_bell("" if kind == "none" else str(target))
        if kind == "regular":
            assert target.read_bytes() == b""
        with pytest.raises(BlockingIOError):
            os.read(reader, 1)
    finally:
        os.close(reader)


def test_check_readiness_when_bell_rings_ready_without_a_timer():
    """READY is seen on the bell's call alone: the backstop timer (an hour here) never ran."""
    clock = FakeClock()
    loop = EventLoop(clock=clock)
    sup = Supervisor(topology(engine("a")), FakeHost(clock), loop, FakeTable(),
                     rng=random.Random(1), ready_poll_s=3600.0)
    sup.start_all()
    inst = sup.instances["a"]
    report_ready(inst.slot, clock)
    assert inst.state is State.STARTING
    sup.check_readiness()
    assert inst.state is State.READY
