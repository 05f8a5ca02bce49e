"""Unit tests for the lifecycle table in nautilusd.states.

The table is the contract between the supervisor, the status table and nautilusctl.
"""

from __future__ import annotations

import pytest

from nautilusd.errors import NautilusdError
from nautilusd.states import TRANSITIONS, InvalidTransition, State, Trigger, transition

pytestmark = pytest.mark.timeout(10)


def test_codes_when_read_match_the_status_table_numbering() -> None:
    """Each state's code is the integer agreed for the shm status table."""
    expected = {
        "STOPPED": 0, "STARTING": 1, "READY": 2, "STOPPING": 3,
        "EXITED": 4, "BACKOFF": 5, "FATAL": 6,
    }
    assert {s.name: s.code for s in State} == expected
    assert all(State.from_code(s.code) is s for s in State)


def test_table_when_compared_to_the_agreed_table_is_identical() -> None:
    """TRANSITIONS holds exactly the sixteen agreed moves."""
    S, T = State, Trigger
    agreed = {
        (S.STOPPED, T.START): S.STARTING, (S.EXITED, T.START): S.STARTING,
        (S.BACKOFF, T.START): S.STARTING, (S.FATAL, T.START): S.STARTING,
        (S.STARTING, T.READY): S.READY, (S.STARTING, T.EXIT): S.EXITED,
        (S.READY, T.EXIT): S.EXITED, (S.STOPPING, T.EXIT): S.STOPPED,
        (S.STARTING, T.STOP): S.STOPPING, (S.READY, T.STOP): S.STOPPING,
        (S.BACKOFF, T.STOP): S.STOPPED, (S.EXITED, T.STOP): S.STOPPED,
        (S.FATAL, T.STOP): S.STOPPED, (S.STOPPING, T.STOPPED): S.STOPPED,
        (S.EXITED, T.BACKOFF): S.BACKOFF, (S.EXITED, T.GIVE_UP): S.FATAL,
    }
    assert dict(TRANSITIONS) == agreed


def test_transition_when_allowed_returns_the_next_state() -> None:
    """A legal trigger moves to the table's next state."""
    assert transition(State.STOPPED, Trigger.START) is State.STARTING
    assert transition(State.EXITED, Trigger.GIVE_UP) is State.FATAL


def test_transition_when_not_in_table_raises_naming_state_and_trigger() -> None:
    """An illegal trigger raises InvalidTransition carrying and naming both values."""
    with pytest.raises(InvalidTransition) as info:
        transition(State.READY, Trigger.START)
    assert info.value.state is State.READY
    assert info.value.trigger is Trigger.START
    assert "READY" in str(info.value) and "START" in str(info.value)
    assert isinstance(info.value, NautilusdError)


def test_table_when_written_to_refuses_mutation() -> None:
    """The table is read-only so no module can add a move behind the others' backs."""
    with pytest.raises(TypeError):
        TRANSITIONS[(State.READY, Trigger.START)] = State.STARTING  # type: ignore[index]


def test_invalid_transition_when_pickled_keeps_state_and_trigger() -> None:
    """The error survives a process boundary (pickle) with both values intact."""
    import pickle

    error = pickle.loads(pickle.dumps(InvalidTransition(State.FATAL, Trigger.READY)))
    assert (error.state, error.trigger) == (State.FATAL, Trigger.READY)
    assert str(error) == "invalid transition: READY in state FATAL"
