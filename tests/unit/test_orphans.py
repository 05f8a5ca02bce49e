"""nautilusd.orphans with real processes: a subreaper lists, kills and reaps what it adopts.

Each case runs in a child interpreter, so the test process itself never becomes a subreaper.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(30)

PRELUDE = """
import os, signal, socket, time
from nautilusd import orphans
orphans.become_subreaper()
wake_r, wake_w = socket.socketpair()
wake_r.setblocking(False); wake_w.setblocking(False)
signal.set_wakeup_fd(wake_w.fileno())
signal.signal(signal.SIGCHLD, lambda *_: None)
# sh starts a sleeper in a session of its own and exits: the sleeper is orphaned to us.
sh = subprocess.Popen(["/bin/sh", "-c", "setsid /bin/sleep 60 >/dev/null & echo $!"],
                      stdout=subprocess.PIPE, text=True)
sleeper = int(sh.stdout.read().split()[0]); sh.wait()
deadline = time.monotonic() + 10
while sleeper not in orphans.children() and time.monotonic() < deadline:
    time.sleep(0.01)
assert sleeper in orphans.children(), (sleeper, orphans.children())
def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in "ZX"
    except OSError:
        return False
"""


def _run(body: str) -> str:
    script = "import subprocess\n" + PRELUDE + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=25)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_sweep_when_a_live_orphan_was_adopted_kills_and_reaps_it() -> None:
    """An orphan that left its parent's group comes to the subreaper; sweep kills it and the
    next sweep (on its SIGCHLD) reaps it: no process and no zombie is left."""
    out = _run("""
        assert orphans.sweep(known=set()) == [sleeper]
        deadline = time.monotonic() + 5
        while sleeper in orphans.children() and time.monotonic() < deadline:
            orphans.sweep(known=set()); time.sleep(0.01)
        print(alive(sleeper), sleeper in orphans.children())
    """)
    assert out.split() == ["False", "False"]


def test_sweep_when_kill_is_off_leaves_a_live_orphan_running() -> None:
    """As PID 1 (kill=False) an adopted orphan that still runs is left alone; it is reaped
    once it exits."""
    out = _run("""
        orphans.sweep(known=set(), kill=False)
        first = alive(sleeper)
        os.kill(sleeper, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while sleeper in orphans.children() and time.monotonic() < deadline:
            orphans.sweep(known=set(), kill=False); time.sleep(0.01)
        print(first, sleeper in orphans.children())
    """)
    assert out.split() == ["True", "False"]


def test_sweep_when_the_child_is_known_leaves_it_alone() -> None:
    """A child in `known` (the forkserver) is neither killed nor reaped by a sweep."""
    out = _run("""
        orphans.sweep(known={sleeper})
        print(alive(sleeper))
        os.kill(sleeper, signal.SIGKILL)
    """)
    assert out.split() == ["True"]


def test_drain_when_orphans_remain_kills_every_descendant_and_returns_true() -> None:
    """drain kills what is below it, the orphans that arrive while their parents die too,
    and returns once the subreaper has no child left."""
    out = _run("""
        tree = subprocess.Popen(["/bin/sh", "-c", "setsid /bin/sleep 61 & /bin/sleep 62"])
        print(orphans.drain([tree.pid], wake_r.fileno(), timeout_s=5), orphans.children(),
              alive(sleeper))
    """)
    assert out.split() == ["True", "[]", "False"]
