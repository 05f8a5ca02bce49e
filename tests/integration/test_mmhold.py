"""The address-space holder (nautilusd/_mmhold.c) with real processes: what it shares, what it
ignores, and that it never outlives the engine it holds by more than its hold."""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest

from nautilusd import forkserver

pytestmark = [
    pytest.mark.timeout(30),
    pytest.mark.skipif(forkserver._MMHOLD is None, reason="nautilusd._mmhold not built"),
]


@contextmanager
def engine_with_holder() -> Iterator[tuple[int, int]]:
    """A forked stand-in engine that started its holder: (engine pid, holder pid)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(r)
        os.write(w, str(forkserver.hold_address_space()).encode())
        time.sleep(60)
        os._exit(0)
    os.close(w)
    holder = int(os.read(r, 32))
    os.close(r)
    holder_fd = os.pidfd_open(holder)  # signalled through it: never a reused pid
    try:
        yield pid, holder
    finally:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with suppress(ProcessLookupError):
            signal.pidfd_send_signal(holder_fd, signal.SIGKILL)
        os.close(holder_fd)
        os.waitpid(pid, 0)


def _gone(pidfd: int, timeout_s: float) -> bool:
    return bool(select.select([pidfd], [], [], timeout_s)[0])


def _status(pid: int, key: str) -> str:
    with open(f"/proc/{pid}/status") as f:
        return next(line.split(":", 1)[1].strip() for line in f if line.startswith(key + ":"))


def test_hold_when_started_shares_memory_and_nothing_else():
    """The holder maps the engine's very address space (CLONE_VM: same mappings, no copy), runs in
    its own process group, keeps no file descriptor beyond 0-2 and blocks the signals a
    handler would run for."""
    with engine_with_holder() as (pid, holder):
        assert holder > 0
        with open(f"/proc/{pid}/maps") as a, open(f"/proc/{holder}/maps") as b:
            assert a.read() == b.read()
        assert os.getpgid(holder) == holder != os.getpgid(pid)
        assert _status(holder, "Name") == "nautilusd-mm"
        assert sorted(int(fd) for fd in os.listdir(f"/proc/{holder}/fd")) <= [0, 1, 2]
        blocked = int(_status(holder, "SigBlk"), 16)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1,
                       signal.SIGCHLD):
            assert blocked & (1 << (signum - 1)), signum


def test_hold_when_signalled_but_not_killed_stays():
    """SIGTERM (an engine group's stop) does not end the holder: it must outlive the engine."""
    with engine_with_holder() as (_pid, holder):
        fd = os.pidfd_open(holder)
        try:
            os.kill(holder, signal.SIGTERM)
            assert not _gone(fd, 0.2)
        finally:
            os.close(fd)


def test_hold_when_engine_killed_exit_is_seen_and_holder_follows():
    """The engine's SIGKILL is reported by its pidfd; the holder is gone soon after (its hold,
    then its own teardown), without anyone signalling it. (How much sooner the exit is seen
    is a timing, measured by `nautilusctl bench restart`, not asserted here.)"""
    with engine_with_holder() as (pid, holder):
        engine_fd, holder_fd = os.pidfd_open(pid), os.pidfd_open(holder)
        try:
            os.kill(pid, signal.SIGKILL)
            assert _gone(engine_fd, 5)
            assert _gone(holder_fd, 5)
        finally:
            os.close(engine_fd)
            os.close(holder_fd)
