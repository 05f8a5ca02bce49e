"""Unit tests of shm.observer: a slot-less look at a ring's cursor and the records it holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shm import AttachError, Ring, RingObserver, RingReader, RingWriter
from shm.layout import RAW64, TICK

pytestmark = pytest.mark.timeout(30)


def _records(first: int, n: int) -> np.ndarray:
    out = np.zeros(n, RAW64)
    out["data"][:, 0] = np.arange(first, first + n)
    return out


def test_history_when_ring_wrapped_returns_the_records_still_held(shm_dir: Path) -> None:
    """Published counts every record; history gives the last `capacity` of them, in order."""
    with Ring.create("r", RAW64, 8, "overwrite", directory=shm_dir), \
            RingWriter.attach("r", RAW64, directory=shm_dir) as writer, \
            RingObserver.attach("r", RAW64, shm_dir) as observer:
        assert observer.published() == 0 and observer.history(0)[1].shape == (0,)
        writer.write(_records(0, 20))
        first, records = observer.history(0)
        assert observer.published() == 20 and observer.capacity == 8
        assert first == 12 and records["data"][:, 0].tolist() == list(range(12, 20))
        assert observer.history(14, 16)[1]["data"][:, 0].tolist() == [14, 15]


def test_attach_when_observing_a_block_ring_takes_no_reader_slot(shm_dir: Path) -> None:
    """The writer never waits for an observer: with no reader a block ring takes any
    number of records, and every reader slot stays free."""
    with Ring.create("r", RAW64, 4, "block", max_readers=1, directory=shm_dir) as ring, \
            RingObserver.attach("r", RAW64, shm_dir) as observer, \
            RingWriter.attach("r", RAW64, directory=shm_dir) as writer:
        writer.write(_records(0, 4))
        writer.write(_records(4, 4), timeout_s=0.1)
        assert observer.published() == 8
        assert not any(r["active"] for r in ring.stats()["readers"])
        RingReader.attach("r", RAW64, 0, directory=shm_dir).close()  # the slot is there


def test_attach_when_layout_differs_raises_naming_it(shm_dir: Path) -> None:
    """An observer refuses a ring of another record layout, as readers do."""
    with Ring.create("r", RAW64, 4, "block", directory=shm_dir), \
            pytest.raises(AttachError, match="fingerprint"):
        RingObserver.attach("r", TICK, shm_dir)


def test_stale_when_ring_recreated_says_so(shm_dir: Path) -> None:
    """An observer of a ring that was created again over the old one reports it stale."""
    old = Ring.create("r", RAW64, 4, "block", directory=shm_dir)
    observer = RingObserver.attach("r", RAW64, shm_dir)
    assert not observer.stale()
    again = Ring.create("r", RAW64, 4, "block", directory=shm_dir)  # retires the old one
    try:
        assert observer.stale()
    finally:
        observer.close()
        observer.close()  # idempotent
        old.segment.close()
        again.destroy()
