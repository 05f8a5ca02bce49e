"""Park/publish races across processes: a parked reader is never left asleep on the compiled path.

A writer process publishes records at random gaps of 0-300 us (short ones spun, long ones
slept), each stamped with its
CLOCK_MONOTONIC publish time, while the reader parks after every record (no spin) with the
bounded re-check turned off (10 s): a wake-up lost to store-buffer reordering would stall it
for seconds. The worst wake-up seen is printed (`pytest -s`); on a shared 2-core host it is
scheduling, a few milliseconds at most, against the 50 ms re-check of the Python paths.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import pytest

from shm import Blocking, Ring, RingReader, RingWriter, ring_paths
from shm.layout import TICK

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]
DURATION_S = 3.0
STALL_S = 1.0  # far below the 10 s a lost wake-up would cost here, far above any scheduling


def _writer(directory: str, name: str, go: Connection) -> None:
    rng = np.random.default_rng(7)
    writer = RingWriter.attach(name, TICK, directory=directory)
    rec = np.zeros(1, TICK)
    go.recv()
    end, seq = time.monotonic() + DURATION_S, 0
    while time.monotonic() < end:
        gap_s = float(rng.uniform(0, 300e-6))
        if gap_s < 30e-6:  # a short gap spun: the publish lands while the reader parks
            until = time.perf_counter() + gap_s
            while time.perf_counter() < until:
                pass
        else:  # a long one slept: the writer leaves the core (it is shared) to the reader
            time.sleep(gap_s)
        seq += 1
        rec["seq"], rec["ts_ns"] = seq, time.monotonic_ns()
        writer.write_bytes(rec.tobytes())
    go.send(seq)
    writer.close()


def _sample(reader: RingReader, delays_ns: list[int]) -> int:
    """Read everything available after one wait, noting each record's delay; the last seq."""
    last = 0
    while (got := reader.read_one()) is not None:
        rec = np.frombuffer(got, TICK)[0]
        last = int(rec["seq"])
        delays_ns.append(time.monotonic_ns() - int(rec["ts_ns"]))
    return last


@pytest.mark.skipif(ring_paths() != "compiled", reason="the fenced path is the compiled one")
def test_park_publish_race_when_hammered_across_processes_loses_no_wakeup(shm_dir: Path) -> None:
    """Thousands of park/publish races; no parked reader sleeps longer than STALL_S."""
    name = "wake"
    ring = Ring.create(name, TICK, 1024, "overwrite", directory=shm_dir, readers=1)
    wait = Blocking(spin_s=0.0, recheck_s=10.0)
    reader = RingReader.attach(name, TICK, 0, directory=shm_dir, wait=wait)
    ours, theirs = mp.Pipe()
    proc = mp.get_context("fork").Process(target=_writer, args=(str(shm_dir), name, theirs))
    proc.start()
    try:
        ours.send("go")
        delays_ns: list[int] = []
        last, parks, total = 0, 0, None
        while total is None or last < total:
            n = reader.wait(STALL_S)
            parks += 1
            if n == 0 and total is None and not ours.poll():
                pytest.fail(f"reader asleep {STALL_S} s after seq {last}: a lost wake-up")
            last = max(last, _sample(reader, delays_ns))
            if total is None and ours.poll():
                total = ours.recv()
        ms = np.asarray(delays_ns) / 1e6
        p50, p99, p999 = np.percentile(ms, [50, 99, 99.9])
        print(f"\n{parks} waits over {last} records; publish -> read ms p50 {p50:.3f} "
              f"p99 {p99:.3f} p99.9 {p999:.3f} max {ms.max():.3f}, above 1 ms "
              f"{int((ms > 1).sum())}")
        assert last == total and ms.max() < STALL_S * 1e3
    finally:
        proc.join(10)
        reader.close()
        ring.destroy()
