"""The start's raised priority is given back by every thread once READY (engines.runner)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent("""
    import os, threading
    from engines.log import get_logger
    from engines.runner import settle_priority

    go, done = threading.Event(), threading.Event()
    def made_during_start():  # a thread inherits its creator's nice (zmq's I/O thread does)
        go.set()
        done.wait(10)
    t = threading.Thread(target=made_during_start)
    t.start()
    go.wait(10)
    tids = settle_priority(7, get_logger())
    nices = {os.getpriority(os.PRIO_PROCESS, tid) for tid in os.listdir("/proc/self/task")
             for tid in [int(tid)]}
    done.set()
    t.join()
    print(len(tids), sorted(nices))
""")


@pytest.mark.timeout(20)
def test_settle_priority_when_start_made_threads_sets_every_thread() -> None:
    """Linux keeps a nice value per thread: setting the process's alone would leave the
    threads on_start made at the start's priority for good."""
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         timeout=15, check=True).stdout.split(maxsplit=1)
    assert int(out[0]) >= 2 and out[1].strip() == "[7]"
