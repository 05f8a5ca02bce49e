"""The engine lifecycle: states, triggers, the one table that says which moves are legal, and
the error an illegal move raises.

Depends on nothing but the daemon's error base; every state change goes through `transition`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from nautilusd.errors import NautilusdError


class State(enum.Enum):
    """Supervisord's vocabulary (RUNNING is READY here: running and reported ready)."""

    STOPPED = 0
    STARTING = 1
    READY = 2
    STOPPING = 3
    EXITED = 4
    BACKOFF = 5
    FATAL = 6

    @property
    def code(self) -> int:
        """The integer kept in the shm status table."""
        return int(self.value)

    @classmethod
    def from_code(cls, code: int) -> State:
        return cls(code)


class Trigger(enum.Enum):
    START = "start"  # a process is being spawned
    READY = "ready"  # the engine set its ready flag
    EXIT = "exit"  # the process exited (any reason)
    STOP = "stop"  # an operator or the supervisor asked for a stop
    STOPPED = "stopped"  # a stopping process is gone
    BACKOFF = "backoff"  # a restart was scheduled after a delay
    GIVE_UP = "give_up"  # restart intensity exceeded or policy says never


_S = State
_T = Trigger

TRANSITIONS: Final[Mapping[tuple[State, Trigger], State]] = MappingProxyType(
    {
        (_S.STOPPED, _T.START): _S.STARTING,
        (_S.EXITED, _T.START): _S.STARTING,
        (_S.BACKOFF, _T.START): _S.STARTING,
        (_S.FATAL, _T.START): _S.STARTING,
        (_S.STARTING, _T.READY): _S.READY,
        (_S.STARTING, _T.EXIT): _S.EXITED,
        (_S.READY, _T.EXIT): _S.EXITED,
        (_S.STOPPING, _T.EXIT): _S.STOPPED,
        (_S.STARTING, _T.STOP): _S.STOPPING,
        (_S.READY, _T.STOP): _S.STOPPING,
        (_S.BACKOFF, _T.STOP): _S.STOPPED,
        (_S.EXITED, _T.STOP): _S.STOPPED,
        (_S.FATAL, _T.STOP): _S.STOPPED,
        (_S.STOPPING, _T.STOPPED): _S.STOPPED,
        (_S.EXITED, _T.BACKOFF): _S.BACKOFF,
        (_S.EXITED, _T.GIVE_UP): _S.FATAL,
    }
)

class InvalidTransition(NautilusdError):
    """A lifecycle trigger that the state table does not allow from the current state."""

    def __init__(self, state: State, trigger: Trigger) -> None:
        self.state = state
        self.trigger = trigger
        super().__init__(f"invalid transition: {trigger.name} in state {state.name}")

    def __reduce__(self) -> tuple[object, ...]:  # picklable across process boundaries
        return (type(self), (self.state, self.trigger))


# States in which the engine has (or may have) a live process.
RUNNING_STATES: Final = frozenset({State.STARTING, State.READY, State.STOPPING})


def transition(state: State, trigger: Trigger) -> State:
    """The state after `trigger` in `state`; raises InvalidTransition naming both otherwise."""
    try:
        return TRANSITIONS[(state, trigger)]
    except KeyError:
        raise InvalidTransition(state, trigger) from None

