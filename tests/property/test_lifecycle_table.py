"""Property tests of the lifecycle table: a state machine driven against a model.

The model is the table itself read as data; the properties are structural (reachability,
FATAL only via GIVE_UP, no way out of a running state without a stop or an exit).
"""

from __future__ import annotations

import pytest
from _reach import reachable
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from nautilusd.states import (
    RUNNING_STATES,
    TRANSITIONS,
    InvalidTransition,
    State,
    Trigger,
    transition,
)

pytestmark = pytest.mark.timeout(60)

states = st.sampled_from(list(State))
triggers = st.sampled_from(list(Trigger))


@given(states, triggers)
def test_transition_when_any_pair_either_moves_per_table_or_raises(
    state: State, trigger: Trigger
) -> None:
    """Every (state, trigger) is in the table and moves there, or raises naming both."""
    if (state, trigger) in TRANSITIONS:
        assert transition(state, trigger) is TRANSITIONS[(state, trigger)]
    else:
        with pytest.raises(InvalidTransition) as info:
            transition(state, trigger)
        assert (info.value.state, info.value.trigger) == (state, trigger)
        assert state.name in str(info.value) and trigger.name in str(info.value)


class Lifecycle(RuleBasedStateMachine):
    """One engine's lifecycle driven by random triggers, checked against the table."""

    def __init__(self) -> None:
        super().__init__()
        self.state = State.STOPPED
        self.history: list[tuple[State, Trigger, State]] = []

    @rule(trigger=triggers)
    def fire(self, trigger: Trigger) -> None:
        before = self.state
        expected = TRANSITIONS.get((before, trigger))
        if expected is None:
            with pytest.raises(InvalidTransition):
                transition(before, trigger)
            assert self.state is before  # a refused trigger changes nothing
            return
        self.state = transition(before, trigger)
        assert self.state is expected
        self.history.append((before, trigger, self.state))

    @invariant()
    def fatal_only_via_give_up(self) -> None:
        for _, trigger, after in self.history:
            if after is State.FATAL:
                assert trigger is Trigger.GIVE_UP

    @invariant()
    def ready_only_via_ready_from_starting(self) -> None:
        for before, trigger, after in self.history:
            if after is State.READY:
                assert (before, trigger) == (State.STARTING, Trigger.READY)

    @invariant()
    def running_left_only_by_exit_or_stopped(self) -> None:
        for before, trigger, after in self.history:
            if before in RUNNING_STATES and after not in RUNNING_STATES:
                assert trigger in {Trigger.EXIT, Trigger.STOPPED}

    @invariant()
    def starting_entered_only_by_start(self) -> None:
        for before, trigger, after in self.history:
            if after is State.STARTING:
                assert trigger is Trigger.START and before not in RUNNING_STATES


TestLifecycle = Lifecycle.TestCase
TestLifecycle.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)


def test_table_when_walked_from_stopped_reaches_every_state() -> None:
    """Every state is reachable from STOPPED, and STOPPED is reachable from every state."""
    assert reachable(TRANSITIONS, State.STOPPED) == set(State)
    for state in State:
        assert State.STOPPED in reachable(TRANSITIONS, state), state
