"""A reader SIGKILLed while parked: the writer clears its parked flag on its next publish.

Before, every later publish retried open(O_WRONLY|O_NONBLOCK) on a FIFO nobody read (ENXIO),
~45x the cost of a write, until that reader came back. The per-record cost before the kill
and after it is printed (`pytest -s`); the test asserts the flag, not the timing.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from shm import Blocking, Policy, Ring, RingReader, RingWriter, ring_stats
from shm.layout import TICK

pytestmark = pytest.mark.timeout(60)
RECORDS = 20_000


def _parked_reader(directory: Path, name: str) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            reader = RingReader.attach(name, TICK, 0, directory=directory,
                                       wait=Blocking(spin_s=0.0, recheck_s=60.0))
            reader.wait(60.0)
        finally:
            os._exit(0)
    return pid


def _per_record_us(writer: RingWriter) -> float:
    rec = np.zeros(1, TICK).tobytes()
    t0 = time.perf_counter()
    for _ in range(RECORDS):
        writer.write_bytes(rec)
    return (time.perf_counter() - t0) / RECORDS * 1e6


def _parked(name: str, directory: Path) -> bool:
    return bool(ring_stats(name, directory)["readers"][0]["parked"])


@pytest.mark.parametrize("policy", [Policy.OVERWRITE, Policy.BLOCK])
def test_writer_when_a_parked_reader_was_killed_clears_its_flag(shm_dir: Path,
                                                                policy: Policy) -> None:
    """The dead reader's flag is cleared by the first publish after its death."""
    name = f"dead-{policy.name.lower()}"
    ring = Ring.create(name, TICK, 1 << 16, policy, directory=shm_dir, readers=1)
    writer = RingWriter.attach(name, TICK, directory=shm_dir)
    try:
        normal_us = _per_record_us(writer) if policy is Policy.OVERWRITE else 0.0
        ring.release_reader(0)  # the reader starts at the end: nothing to read, it parks
        ring.reserve_reader(0)
        pid = _parked_reader(shm_dir, name)
        deadline = time.monotonic() + 20
        while not _parked(name, shm_dir):
            assert time.monotonic() < deadline, "the reader never parked"
            time.sleep(0.005)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        assert _parked(name, shm_dir), "the flag outlives the reader until someone clears it"
        writer.write_bytes(np.zeros(1, TICK).tobytes())
        assert not _parked(name, shm_dir)
        assert writer.dead_parks_cleared == 1 and writer.last_dead_park_pid == pid
        if policy is Policy.OVERWRITE:
            after_us = _per_record_us(writer)
            print(f"\nper record: {normal_us:.3f} us before, {after_us:.3f} us after the kill")
    finally:
        writer.close()
        ring.destroy()
