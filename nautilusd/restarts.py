"""Restart decisions for one engine instance: policy, backoff delay and restart intensity.

Pure logic over an injected clock reading and random source: the first retry is immediate,
then the delay doubles from `backoff_initial_ms` up to `backoff_max_ms`, with +/- jitter.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from engines.spec import EngineConfig, RestartPolicy


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do after an exit: `restart` after `delay_s`, or give up (`fatal`) or stay down."""

    restart: bool
    delay_s: float = 0.0
    fatal: bool = False
    attempt: int = 0  # restarts inside the window, this one included


def wants_restart(policy: RestartPolicy, exit_code: int, failure: bool) -> bool:
    """Does `policy` restart after an exit with `exit_code` (-signal when killed)?

    `failure` is set when nautilusd itself killed the process (liveness, memory cap): that
    is a failure even if the process then exited 0.
    """
    if policy is RestartPolicy.ALWAYS:
        return True
    if policy is RestartPolicy.ON_FAILURE:
        return failure or exit_code != 0
    return False


def backoff_delay_s(config: EngineConfig, attempt: int, rng: random.Random) -> float:
    """Delay before restart number `attempt` (1-based inside the window); the first is 0."""
    if attempt <= 1:
        return 0.0
    base_ms = min(config.backoff_initial_ms * 2 ** (attempt - 2), config.backoff_max_ms)
    jitter = config.backoff_jitter
    factor = 1.0 + rng.uniform(-jitter, jitter) if jitter > 0 else 1.0
    return float(max(0.0, base_ms * factor / 1000.0))


class RestartTracker:
    """Restart history of one instance: the times of the restarts inside the window."""

    def __init__(self, config: EngineConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self._rng = rng or random.Random()
        self._times: deque[float] = deque()
        self.total = 0

    def _trim(self, now: float) -> None:
        horizon = now - self.config.restart_window_s
        while self._times and self._times[0] <= horizon:
            self._times.popleft()

    def decide(self, now: float, exit_code: int, failure: bool = False) -> Decision:
        """Decide on an unexpected exit at `now`; records the restart when one is granted."""
        if not wants_restart(self.config.restart, exit_code, failure):
            return Decision(restart=False)
        self._trim(now)
        if len(self._times) >= self.config.max_restarts:
            return Decision(restart=False, fatal=True, attempt=len(self._times))
        self._times.append(now)
        self.total += 1
        attempt = len(self._times)
        return Decision(True, backoff_delay_s(self.config, attempt, self._rng), attempt=attempt)

    def times(self) -> list[float]:
        """The restart times inside the window (loop time), for a handover."""
        return list(self._times)

    def restore(self, times: list[float], total: int) -> None:
        """Take a handed-over history (nautilusd.reexec): the restart budget carries on."""
        self._times = deque(sorted(times))
        self.total = total

    def reset(self) -> None:
        """Forget the history (an operator start after FATAL gets a fresh budget)."""
        self._times.clear()
