"""Unit tests of shm.wait and the doorbells: every strategy waits, times out and wakes."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from pathlib import Path

import pytest
import zmq

from shm import (
    Blocking,
    BusySpin,
    Ring,
    RingReader,
    RingWriter,
    ShmError,
    Sleeping,
    WaitKind,
    Yielding,
    make_wait,
    ring_stats,
)
from shm.layout import RAW64

pytestmark = pytest.mark.timeout(30)
REC = bytes(64)


@pytest.fixture
def ring(shm_dir: Path):
    r = Ring.create("w", RAW64, 16, "block", directory=shm_dir, readers=1)
    yield r
    r.destroy()


def test_make_wait_when_kind_known_returns_strategy_else_raises() -> None:
    """Each configured kind maps to its strategy; an unknown kind is named in the error."""
    assert [type(make_wait(k)) for k in ("busy_spin", "yielding", "sleeping", "blocking")] == [
        BusySpin, Yielding, Sleeping, Blocking,
    ]
    assert [type(make_wait(k)) for k in WaitKind] == [BusySpin, Yielding, Sleeping, Blocking]
    assert [cls.kind for cls in (BusySpin, Yielding, Sleeping, Blocking)] == list(WaitKind)
    with pytest.raises(ShmError, match="unknown wait strategy 'nap'"):
        make_wait("nap")


@pytest.mark.parametrize("kind", ["busy_spin", "yielding", "sleeping", "blocking"])
def test_wait_when_nothing_published_returns_zero_after_timeout(
    kind: str, ring: Ring, shm_dir: Path
) -> None:
    """With no records a wait returns 0 once its timeout passes, not before."""
    reader = RingReader.attach("w", RAW64, 0, directory=shm_dir, wait=kind)
    start = time.monotonic()
    assert reader.wait(0.03) == 0
    assert 0.03 <= time.monotonic() - start < 1.0
    reader.close()


@pytest.mark.parametrize("kind", ["busy_spin", "yielding", "sleeping", "blocking"])
def test_wait_when_writer_publishes_later_returns_available(
    kind: str, ring: Ring, shm_dir: Path
) -> None:
    """A waiting reader returns as soon as a record is published, well before its timeout."""
    reader = RingReader.attach("w", RAW64, 0, directory=shm_dir, wait=kind)
    writer = RingWriter.attach("w", RAW64, directory=shm_dir)
    timer = threading.Timer(0.02, writer.write_bytes, args=(REC,))
    timer.start()
    start = time.monotonic()
    assert reader.wait(5.0) == 1
    assert time.monotonic() - start < 2.0
    timer.join()
    reader.close(), writer.close()


def _publish_when_parked(directory: str) -> None:
    deadline = time.monotonic() + 10
    while not ring_stats("w", directory)["readers"][0]["parked"]:
        if time.monotonic() > deadline:
            return
        time.sleep(0.001)
    writer = RingWriter.attach("w", RAW64, directory=directory)
    writer.write_bytes(REC)
    writer.close()


def test_blocking_wait_when_parked_is_woken_by_writer_process(ring: Ring, shm_dir: Path) -> None:
    """A parked reader sleeps on its doorbell and a writer in another process wakes it."""
    reader = RingReader.attach(
        "w", RAW64, 0, directory=shm_dir, wait=Blocking(spin_s=0, recheck_s=5.0)
    )
    child = mp.get_context("fork").Process(target=_publish_when_parked, args=(str(shm_dir),))
    child.start()
    start = time.monotonic()
    assert reader.wait(8.0) == 1
    assert time.monotonic() - start < 4.0  # the doorbell, not the 5 s re-check, woke it
    child.join(10)
    assert not ring_stats("w", shm_dir)["readers"][0]["parked"]
    reader.close()


def test_publish_when_no_reader_parked_rings_no_doorbell(ring: Ring, shm_dir: Path) -> None:
    """The writer makes no doorbell system call while nobody is parked."""
    reader = RingReader.attach("w", RAW64, 0, directory=shm_dir)
    writer = RingWriter.attach("w", RAW64, directory=shm_dir)
    writer.write_bytes(REC)
    assert writer._bells.rings == 0
    assert reader.park() == 1  # records pending: the caller must not sleep
    reader.unpark()
    reader.advance(1)
    assert reader.park() == 0
    writer.write_bytes(REC)
    assert writer._bells.rings == 1
    reader.close(), writer.close()


def test_fileno_when_parked_reader_rung_is_readable_in_zmq_poller(
    ring: Ring, shm_dir: Path
) -> None:
    """The doorbell fd polls readable in a zmq.Poller next to sockets once the writer rings."""
    reader = RingReader.attach("w", RAW64, 0, directory=shm_dir)
    writer = RingWriter.attach("w", RAW64, directory=shm_dir)
    poller = zmq.Poller()
    poller.register(reader.fileno(), zmq.POLLIN)
    assert reader.park() == 0
    assert poller.poll(10) == []
    writer.write_bytes(REC)
    assert poller.poll(1000) == [(reader.fileno(), zmq.POLLIN)]
    reader.unpark()
    assert reader.park() == 1  # park() drains the doorbell and reports the record
    reader.unpark()
    reader.close(), writer.close()


def test_claim_when_block_ring_full_waits_until_reader_advances(ring: Ring, shm_dir: Path) -> None:
    """A claim on a full ring waits (counted as back-pressure) and succeeds once room appears."""
    reader = RingReader.attach("w", RAW64, 0, directory=shm_dir)
    writer = RingWriter.attach("w", RAW64, directory=shm_dir, wait="sleeping")
    for _ in range(16):
        writer.write_bytes(REC)
    timer = threading.Timer(0.02, reader.advance, args=(4,))
    timer.start()
    assert len(writer.claim(4, timeout_s=5.0)) == 4
    timer.join()
    assert writer.backpressure_waits == 1
    reader.close(), writer.close()


def test_publish_when_some_readers_parked_rings_exactly_their_doorbells(shm_dir: Path) -> None:
    """Readers 7 and 9 (the last flag of the first parked word, one of the second) are rung;
    the awake readers around them are not."""
    ring = Ring.create("many", RAW64, 16, "overwrite", max_readers=12, directory=shm_dir)
    readers = [RingReader.attach("many", RAW64, k, directory=shm_dir) for k in range(12)]
    writer = RingWriter.attach("many", RAW64, directory=shm_dir)
    poller = zmq.Poller()
    for reader in readers:
        poller.register(reader.fileno(), zmq.POLLIN)
    try:
        assert readers[7].park() == 0 and readers[9].park() == 0
        writer.write_bytes(REC)
        rung = sorted(readers.index(r) for fd, _ in poller.poll(1000) for r in readers
                      if r.fileno() == fd)
        assert rung == [7, 9]
        assert writer._bells.rings == 2
    finally:
        readers[7].unpark(), readers[9].unpark()
        for reader in readers:
            reader.close()
        writer.close()
        ring.destroy()
