"""One Instance: state changes through the table, mirrored into its status slot."""

from __future__ import annotations

import random

import pytest
from supervisor_fakes import FakeTable, engine

from nautilusd.process import Instance
from nautilusd.restarts import RestartTracker
from nautilusd.states import InvalidTransition, State, Trigger
from shm.status import W_EXIT_CODE, W_GENERATION, W_PID, W_READY, W_STATE


def make() -> Instance:
    cfg = engine("a")
    return Instance("a", cfg, FakeTable().slot(3), (1,), RestartTracker(cfg, random.Random(0)))


def test_fire_when_allowed_moves_and_writes_state_code():
    """A legal trigger changes state and the slot's state word."""
    inst = make()
    inst.fire(Trigger.START)
    assert inst.state is State.STARTING and inst.slot.get(W_STATE) == State.STARTING.code


def test_fire_when_illegal_raises_invalid_transition():
    """An illegal trigger raises, naming state and trigger, and changes nothing."""
    inst = make()
    with pytest.raises(InvalidTransition, match="READY in state STOPPED"):
        inst.fire(Trigger.READY)
    assert inst.state is State.STOPPED


def test_prepare_spawn_when_called_bumps_generation_and_clears_ready():
    """A new process starts from a clean slot with the next generation."""
    inst = make()
    inst.slot.put(W_READY, 1)
    assert inst.prepare_spawn() == 1 and inst.prepare_spawn() == 2
    assert inst.slot.get(W_READY) == 0 and inst.slot.get(W_GENERATION) == 2


def test_exited_when_killed_by_nautilusd_records_reason_and_signal():
    """The exit record keeps why nautilusd killed it and the signal."""
    inst = make()
    inst.spawned(4242, 10.0)
    inst.kill_reason = "liveness"
    record = inst.exited(-9, 11.0)
    assert record.as_dict() == {"signal": 9, "reason": "liveness"}
    assert inst.slot.get(W_PID) == 0 and inst.slot.get(W_EXIT_CODE) == -9
