"""Risk's state file fails closed: lost or mismatched state comes back with the switch on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engines.harness import Harness
from engines.statedir import STARTED_MARKER, StateDir

pytestmark = pytest.mark.timeout(30)
RISK_RINGS = {"ticks": ("tick", "overwrite", 64), "orders": ("order", "block", 64),
              "decisions": ("decision", "block", 64)}


def _risk_status(shm_dir: Path, runtime_dir: Path, state: Path) -> dict:  # type: ignore[type-arg]
    """A risk engine started on `state` (fresh rings every time, as after a reboot)."""
    with Harness(shm_dir, runtime_dir, RISK_RINGS, state_dir=state) as h:
        eng = h.engine("engines.risk:RiskEngine", "risk", ("ticks", "orders"), ("decisions",))
        status: dict = eng._status()  # type: ignore[attr-defined]
        if not status["killed"]:
            eng._kill_switch(engage=True, why="test")  # type: ignore[attr-defined]
        h.stop(eng)
        return status


def test_risk_when_first_start_comes_up_released_then_keeps_an_engaged_switch(
    shm_dir: Path, runtime_dir: Path, tmp_path: Path
) -> None:
    """A brand-new state dir is a first start (released); an engaged switch stays engaged
    across new rings."""
    state = tmp_path / "state"
    assert _risk_status(shm_dir, runtime_dir, state)["killed"] is False
    again = _risk_status(shm_dir, runtime_dir, state)
    assert again["killed"] is True and again["kill_reason"] == "engaged"


@pytest.mark.parametrize("damage", ["truncate", "remove_after_start", "other_layout"])
def test_risk_when_state_lost_or_mismatched_comes_up_engaged_state_lost(
    shm_dir: Path, runtime_dir: Path, tmp_path: Path, damage: str
) -> None:
    """Truncated, missing (once a daemon was ready here) or another layout: engaged with
    reason state_lost, the bad file kept aside; never a silent zero."""
    state = tmp_path / "state"
    _risk_status(shm_dir, runtime_dir, state)
    path = state / "risk.state"
    if damage == "truncate":
        os.truncate(path, path.stat().st_size - 1)
    elif damage == "remove_after_start":
        StateDir(state).write_atomic(STARTED_MARKER, b"1\n")
        path.unlink()
    else:
        with path.open("r+b") as f:
            f.seek(8)
            f.write(b"\xff" * 8)  # the layout fingerprint
    status = _risk_status(shm_dir, runtime_dir, state)
    assert status["killed"] is True and status["kill_reason"] == "state_lost"
    if damage != "remove_after_start":
        assert (state / "risk.state.mismatched").exists()


def test_state_file_when_missing_or_mismatched_after_a_ready_start_is_lost(
    tmp_path: Path,
) -> None:
    """`lost`: a first start is not; a file missing once a daemon was ready, or of another
    layout, is."""
    from engines.persist import StateFile

    state = StateDir.create(tmp_path / "state")
    layout = {"n": ("<i8", 1)}
    assert StateFile(state, "x", layout).lost is False  # first start: created, not lost
    assert StateFile(state, "x", layout).lost is False  # loaded
    assert StateFile(state, "x", {"n": ("<i8", 2)}).lost is True  # another layout
    state.write_atomic(STARTED_MARKER, b"1\n")
    assert StateFile(state, "y", layout).lost is True  # missing after a ready start


def test_strategy_when_its_ids_are_lost_after_a_ready_start_refuses_to_start(
    shm_dir: Path, runtime_dir: Path, tmp_path: Path
) -> None:
    """Without the ids it issued, a strategy could repeat ids risk has decided: it refuses
    to start, naming the file, instead of counting from zero."""
    from engines.errors import StateError

    state = StateDir.create(tmp_path / "state")
    state.write_atomic(STARTED_MARKER, b"1\n")
    rings = {"ticks": ("tick", "overwrite", 64), "orders": ("order", "block", 64)}
    with Harness(shm_dir, runtime_dir, rings, state_dir=state.path) as h, \
            pytest.raises(StateError, match=r"strategy\.ids"):
        h.engine("engines.strategy:StrategyEngine", "strategy", ("ticks",), ("orders",))
