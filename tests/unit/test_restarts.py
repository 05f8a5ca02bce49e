"""Restart decisions: policies, immediate first retry, exponential backoff, intensity."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st
from supervisor_fakes import engine

from engines.spec import RestartPolicy
from nautilusd.restarts import RestartTracker, backoff_delay_s, wants_restart


def test_backoff_when_no_jitter_is_zero_then_doubles_up_to_cap():
    """Delays: 0, initial, 2x, 4x ... capped at backoff_max_ms."""
    cfg = engine("a", backoff_initial_ms=10, backoff_max_ms=50)
    rng = random.Random(0)
    delays = [backoff_delay_s(cfg, n, rng) for n in range(1, 7)]
    assert delays == [0.0, 0.01, 0.02, 0.04, 0.05, 0.05]


@given(st.integers(2, 30), st.floats(0.0, 0.5))
def test_backoff_when_jittered_stays_within_fraction(attempt, jitter):
    """Jitter moves each delay by at most +/- the configured fraction."""
    cfg = engine("a", backoff_initial_ms=10, backoff_max_ms=1000, backoff_jitter=jitter)
    base = min(10 * 2 ** (attempt - 2), 1000) / 1000
    delay = backoff_delay_s(cfg, attempt, random.Random(attempt))
    assert base * (1 - jitter) - 1e-12 <= delay <= base * (1 + jitter) + 1e-12


def test_policy_when_on_failure_restarts_only_failures():
    """on-failure: nonzero codes, signals and kills by nautilusd restart; exit 0 does not."""
    p = RestartPolicy.ON_FAILURE
    assert wants_restart(p, 1, False) and wants_restart(p, -9, False)
    assert wants_restart(p, 0, True) and not wants_restart(p, 0, False)
    assert not wants_restart(RestartPolicy.NEVER, 1, True)
    assert wants_restart(RestartPolicy.ALWAYS, 0, False)


def test_decide_when_intensity_reached_gives_up():
    """max_restarts restarts are granted inside the window, the next exit is fatal."""
    tracker = RestartTracker(engine("a", max_restarts=2, restart_window_s=10))
    first, second = tracker.decide(0.0, 1), tracker.decide(1.0, 1)
    third = tracker.decide(2.0, 1)
    assert first.restart and first.delay_s == 0 and second.restart and second.delay_s > 0
    assert third.fatal and not third.restart


def test_decide_when_window_slides_grants_again():
    """Old restarts fall out of the window."""
    tracker = RestartTracker(engine("a", max_restarts=1, restart_window_s=10))
    assert tracker.decide(0.0, 1).restart
    assert tracker.decide(5.0, 1).fatal
    assert tracker.decide(10.5, 1).restart


def test_reset_when_operator_starts_clears_history():
    """reset() gives a fresh budget."""
    tracker = RestartTracker(engine("a", max_restarts=1))
    tracker.decide(0.0, 1)
    tracker.reset()
    decision = tracker.decide(0.2, 1)
    assert decision.restart and decision.attempt == 1 and decision.delay_s == 0
