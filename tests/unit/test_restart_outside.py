"""The outside restart checker's matching, over a real PUB/SUB pair and a real process to kill:
queued, early and other processes' events never answer for the kill."""

from __future__ import annotations

import subprocess
import threading
import time

import msgpack
import pytest
import zmq

from nautilusd.bench.restart_outside import one_kill

pytestmark = pytest.mark.timeout(20)
PREFIX = b"system.engine.victim."


def _send(pub: zmq.Socket[bytes], event: str, pid: int) -> None:
    pub.send_multipart([PREFIX + event.encode(), msgpack.packb({"pid": pid})])


def test_one_kill_when_stale_and_foreign_events_around_matches_by_pid(tmp_path):
    """Stale (queued before the kill), a ready before the exit, another pid's exit and the
    killed pid's own ready are all skipped: the answer is the next ready of a new pid."""
    ctx: zmq.Context[bytes] = zmq.Context()
    pub, sub = ctx.socket(zmq.PUB), ctx.socket(zmq.SUB)
    endpoint = f"ipc://{tmp_path}/bus.sock"
    pub.bind(endpoint)
    sub.setsockopt(zmq.SUBSCRIBE, PREFIX)
    sub.connect(endpoint)
    victim = subprocess.Popen(["sleep", "30"])
    try:
        deadline = time.monotonic() + 5
        while not sub.poll(10) and time.monotonic() < deadline:  # the subscription is up
            _send(pub, "ping", 1)
        _send(pub, "ready", 999)  # stale: queued before the kill
        time.sleep(0.05)

        def restart() -> None:
            victim.wait(timeout=5)
            for event, pid in (("ready", 777), ("exited", 555), ("exited", victim.pid),
                               ("ready", victim.pid), ("ready", 4242)):
                _send(pub, event, pid)

        publisher = threading.Thread(target=restart)
        publisher.start()
        seen_ms, ready_ms, new_pid = one_kill(sub, PREFIX, victim.pid, timeout_s=5)
        publisher.join()
        assert new_pid == 4242
        assert 0 < seen_ms <= ready_ms
    finally:
        victim.kill()
        victim.wait()
        pub.close(linger=0)
        sub.close(linger=0)
        ctx.term()


def test_one_kill_when_no_ready_follows_times_out():
    """Without the events a kill's answer is a time-out, never a guess."""
    ctx: zmq.Context[bytes] = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    victim = subprocess.Popen(["sleep", "30"])
    try:
        with pytest.raises(TimeoutError):
            one_kill(sub, PREFIX, victim.pid, timeout_s=0.2)
    finally:
        victim.kill()
        victim.wait()
        sub.close(linger=0)
        ctx.term()
