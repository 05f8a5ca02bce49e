"""Unit tests of shm.status: slots, counters and the snapshot seen by another attacher."""

from __future__ import annotations

from pathlib import Path

import pytest

from shm import ReaderSlotError
from shm.status import NO_EXIT, W_RECORDS_IN, StatusTable


def test_slot_when_engine_writes_supervisor_attacher_sees_it(shm_dir: Path) -> None:
    """Writes through one attachment are visible in another's snapshot."""
    with StatusTable.create("status", 4, directory=shm_dir) as owner:
        owner.slot(1).reset("risk")
        engine = StatusTable.attach("status", directory=shm_dir)
        slot = engine.slot(1)
        slot.heartbeat(123)
        slot.set_ready(True)
        slot.add(W_RECORDS_IN, 5)
        snap = owner.snapshot()
        assert snap[1]["name"] == b"risk" and snap[1]["heartbeat_ns"] == 123
        assert snap[1]["ready"] == 1 and snap[1]["records_in"] == 5
        assert snap[1]["exit_code"] == NO_EXIT and slot.name == "risk"
        engine.close()


def test_slot_when_index_out_of_range_raises(shm_dir: Path) -> None:
    """An out-of-range slot index is refused with the valid range."""
    with StatusTable.create("status", 2, directory=shm_dir) as table, pytest.raises(
        ReaderSlotError, match=r"status slot 2 out of range 0\.\.1"
    ):
        table.slot(2)
