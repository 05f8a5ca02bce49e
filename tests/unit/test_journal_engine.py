"""The journal engine appends every record of its rings before moving their cursors on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engines.harness import Harness
from engines.journal import KIND_DECISION, KIND_FILL, KIND_ORDER, read_all
from engines.statedir import StateDir
from shm.layout import DECISION, FILL, ORDER

pytestmark = pytest.mark.timeout(30)
RINGS = {"orders": ("order", "block", 64), "decisions": ("decision", "block", 64),
         "fills": ("fill", "block", 64)}


def _records(dtype: np.dtype, n: int, start: int) -> np.ndarray:  # type: ignore[type-arg]
    rows = np.zeros(n, dtype)
    rows["order_id"] = np.arange(start, start + n)
    return rows


@pytest.mark.parametrize("fsync", ["batch", "interval", "none"])
def test_journal_when_records_arrive_appends_each_once_in_ring_order(
    shm_dir: Path, runtime_dir: Path, fsync: str
) -> None:
    """Orders, decisions and fills land in the journal with their bytes; the rings' cursors
    move only after; a second start continues the seqs."""
    with Harness(shm_dir, runtime_dir, RINGS) as h:
        eng = h.engine("engines.journal:JournalEngine", "journal",
                       ("orders", "decisions", "fills"), (), fsync=fsync)
        sent = {ORDER: _records(ORDER, 5, 1), DECISION: _records(DECISION, 3, 1),
                FILL: _records(FILL, 4, 1)}
        for ring, dtype in (("orders", ORDER), ("decisions", DECISION), ("fills", FILL)):
            h.writer(ring).write(sent[dtype])
        while eng.poll():
            pass
        assert all(ring.available() == 0 for ring, _kind in eng.rings)  # type: ignore[attr-defined]
        h.stop(eng)
        got = list(read_all(StateDir(h.state_dir)))
    assert [seq for seq, _k, _p in got] == list(range(12))
    for kind, dtype in ((KIND_ORDER, ORDER), (KIND_DECISION, DECISION), (KIND_FILL, FILL)):
        rows = [bytes(p) for _s, k, p in got if k == kind]
        assert rows == [r.tobytes() for r in sent[dtype]]


def test_journal_when_fsync_policy_unknown_fails_at_start(
    shm_dir: Path, runtime_dir: Path
) -> None:
    """A wrong fsync policy is refused naming the key and the value."""
    with Harness(shm_dir, runtime_dir, RINGS) as h, pytest.raises(ValueError, match="'always'"):
        h.engine("engines.journal:JournalEngine", "journal", ("orders",), (), fsync="always")


def test_journal_when_reading_on_a_timer_is_woken_by_no_record_and_reads_fills_first(
    shm_dir: Path, runtime_dir: Path
) -> None:
    """read_interval_ms > 0: no ring wakes it (the runner watches none of them), it asks to
    be woken every interval, and a poll journals fills, then decisions, then orders."""
    with Harness(shm_dir, runtime_dir, RINGS) as h:
        eng = h.engine("engines.journal:JournalEngine", "journal",
                       ("orders", "decisions", "fills"), (), read_interval_ms=5.0)
        assert not eng.ctx.readers and eng.next_wakeup_s() == pytest.approx(0.005)
        for ring, dtype in (("orders", ORDER), ("decisions", DECISION), ("fills", FILL)):
            h.writer(ring).write(_records(dtype, 2, 1))
        while eng.poll():
            pass
        h.stop(eng)
        kinds = [k for _s, k, _p in read_all(StateDir(h.state_dir))]
    assert kinds == [KIND_FILL] * 2 + [KIND_DECISION] * 2 + [KIND_ORDER] * 2
