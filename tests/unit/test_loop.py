"""The event loop: timers in deadline order, periodic timers, readers on fds and zmq sockets."""

from __future__ import annotations

import os
import socket

import pytest
import zmq
from supervisor_fakes import FakeClock

from nautilusd.loop import EventLoop


def test_call_later_when_due_runs_in_deadline_order():
    """Timers fire in deadline order and only once due."""
    clock = FakeClock()
    loop = EventLoop(clock=clock)
    fired: list[str] = []
    loop.call_later(0.2, lambda: fired.append("late"))
    loop.call_later(0.1, lambda: fired.append("early"))
    clock.t += 0.15
    loop.run_timers()
    assert fired == ["early"]
    clock.t += 0.1
    loop.run_timers()
    assert fired == ["early", "late"]


def test_cancel_when_timer_cancelled_never_fires():
    """A cancelled timer is skipped."""
    clock = FakeClock()
    loop = EventLoop(clock=clock)
    fired: list[int] = []
    loop.call_later(0.1, lambda: fired.append(1)).cancel()
    clock.t += 1
    loop.run_timers()
    assert fired == [] and loop.next_deadline() is None


def test_call_every_when_time_passes_fires_each_interval():
    """A periodic timer re-arms itself from its schedule."""
    clock = FakeClock()
    loop = EventLoop(clock=clock)
    fired: list[float] = []
    loop.call_every(0.1, lambda: fired.append(clock()))
    for _ in range(5):
        clock.t += 0.1
        loop.run_timers()
    assert len(fired) == 5


def test_call_every_when_interval_not_positive_raises():
    """A zero interval would spin: refused with the value."""
    with pytest.raises(ValueError, match="0"):
        EventLoop().call_every(0, lambda: None)


@pytest.mark.timeout(10)
def test_add_reader_when_fd_readable_calls_back_and_stop_ends_run():
    """An fd in the poller wakes run(); stop() from the callback returns."""
    loop = EventLoop()
    a, b = socket.socketpair()
    got: list[bytes] = []

    def on_readable() -> None:
        got.append(a.recv(16))
        loop.stop()

    loop.add_reader(a, on_readable)
    b.send(b"x")
    loop.run()
    loop.remove_reader(a)
    a.close()
    b.close()
    assert got == [b"x"]


@pytest.mark.timeout(10)
def test_add_reader_when_zmq_socket_receives_calls_back():
    """zmq sockets share the poller with plain fds."""
    ctx = zmq.Context.instance()
    pull = ctx.socket(zmq.PULL)
    push = ctx.socket(zmq.PUSH)
    pull.setsockopt(zmq.LINGER, 0)
    push.setsockopt(zmq.LINGER, 0)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    push.connect(f"tcp://127.0.0.1:{port}")
    loop = EventLoop()
    got: list[bytes] = []
    loop.add_reader(pull, lambda: (got.append(pull.recv()), loop.stop()))
    push.send(b"hello")
    loop.call_later(5, loop.stop)
    loop.run()
    pull.close()
    push.close()
    assert got == [b"hello"]


@pytest.mark.timeout(10)
def test_run_once_when_idle_waits_for_next_timer_without_spinning():
    """With nothing readable the loop sleeps until the next timer (one poll, no spin)."""
    r, w = os.pipe()
    loop = EventLoop()
    loop.add_reader(r, lambda: None)
    fired: list[int] = []
    loop.call_later(0.05, lambda: fired.append(1))
    start = os.times()
    while not fired:
        loop.run_once()
    used = (os.times().user - start.user) + (os.times().system - start.system)
    os.close(r)
    os.close(w)
    assert used < 0.04
