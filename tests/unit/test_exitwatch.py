"""Exits seen through pidfds: a real grandchild's SIGKILL, the trusted and untrusted statuses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from engines.spare import Warmup, WarmupError
from nautilusd.exitwatch import ExitWatch, ZombieStat, exit_code_of, read_stat
from nautilusd.loop import EventLoop

pytestmark = pytest.mark.timeout(30)

GRANDCHILD = ("import os, time\npid = os.fork()\nif pid == 0:\n    time.sleep(30)\n"
              "else:\n    print(pid, flush=True)\n    time.sleep(30)\n")


def test_watch_when_a_process_we_did_not_fork_is_killed_reports_the_signal() -> None:
    """The pidfd reports a grandchild's SIGKILL in our loop before its parent reaps it."""
    parent = subprocess.Popen([sys.executable, "-c", GRANDCHILD], stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        loop, seen = EventLoop(), []
        watch = ExitWatch(loop, lambda p, code: seen.append((p, code)))
        assert watch.watch(pid)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            loop.run_once(0.5)
        assert seen == [(pid, -signal.SIGKILL)]
        assert watch.watching() == []
    finally:
        parent.kill()
        parent.wait()


def test_watch_when_the_process_is_gone_returns_false() -> None:
    """A pid that no longer exists is left to the reaper's report."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not ExitWatch(EventLoop(), lambda p, c: None).watch(proc.pid)


def test_exit_code_of_when_zero_or_another_process_is_not_trusted() -> None:
    """Zero may be a masked status, a different start time a recycled pid: neither is taken."""
    assert exit_code_of(ZombieStat("Z", 7, 9), 7) == -9
    assert exit_code_of(ZombieStat("Z", 7, 3 << 8), 7) == 3
    assert exit_code_of(ZombieStat("Z", 7, 0), 7) is None
    assert exit_code_of(ZombieStat("Z", 8, 9), 7) is None
    assert exit_code_of(ZombieStat("S", 7, 9), 7) is None
    assert exit_code_of(None, 7) is None


def test_read_stat_when_the_command_has_parentheses_parses_after_the_last() -> None:
    """This process's own stat line parses: running, with a start time."""
    stat = read_stat(os.getpid())
    assert stat is not None and stat.state in ("R", "S") and stat.start_ticks > 0


def test_warmup_from_json_when_a_key_is_unknown_names_it() -> None:
    """The forkserver's warm-up argument round-trips and rejects what it does not know."""
    warm = Warmup(status_segment="s", shm_dir="/dev/shm", instance="x")
    assert Warmup.from_json(warm.to_json()) == warm
    with pytest.raises(WarmupError, match="bogus"):
        Warmup.from_json('{"bogus": "1"}')
