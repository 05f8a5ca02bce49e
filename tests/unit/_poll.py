"""Drive in-process engines until a condition holds, within a deadline (the unit tests).

The engines run in the test's own thread (engines.harness), so waiting means polling them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def poll_until(cond: Callable[[], Any], *engines: Any, timeout_s: float = 10.0) -> None:
    """Poll each of `engines` in turn until `cond()` is true; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        for eng in engines:
            eng.poll()
        time.sleep(0.001)
