"""Rings between real processes: a writer and readers in separate processes, over /dev/shm.

Covers a million-record stream checked for order and checksum, overwrite laps that never
deliver a torn record, a reader SIGKILLed mid-stream that resumes without loss, and the
reclaim of a ring left behind by a dead owner.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import pytest

from shm import Ring, RingReader, RingWriter, ring_stats
from shm.layout import RAW64

CTX = mp.get_context("fork")
MIX = np.uint64(0x9E3779B97F4A7C15)


def _records(start: int, n: int) -> np.ndarray:
    """Records start..start+n-1: word 0 the position, words 1..7 derived from it."""
    seq = np.arange(start, start + n, dtype=np.uint64)
    words = np.empty((n, 8), np.uint64)
    words[:, 0] = seq
    words[:, 1:] = (seq * MIX)[:, None] + np.arange(1, 8, dtype=np.uint64)
    return words.view(RAW64).reshape(n)


def _check(records: np.ndarray, expect_start: int | None) -> tuple[int, int]:
    """Verify integrity (and order from expect_start); returns (first seq, checksum)."""
    words = records.view(np.uint64).reshape(-1, 8)
    seq = words[:, 0]
    if not (words[:, 1:] == (seq * MIX)[:, None] + np.arange(1, 8, dtype=np.uint64)).all():
        raise AssertionError(f"torn record near seq {int(seq[0])}")
    if expect_start is not None and not (seq == np.arange(expect_start, expect_start + len(seq),
                                                          dtype=np.uint64)).all():
        raise AssertionError(f"out of order: expected {expect_start}, got {int(seq[0])}")
    return int(seq[0]), int(words[:, 1].sum(dtype=np.uint64))


def _writer(directory: str, total: int, seed: int, out: Connection) -> None:
    rng = np.random.default_rng(seed)
    writer = RingWriter.attach("x", RAW64, directory=directory, wait="yielding")
    checksum, pos = 0, writer.cursor
    while pos < total:
        n = min(int(rng.integers(1, 513)), total - pos)
        batch = _records(pos, n)
        checksum += int(batch.view(np.uint64).reshape(-1, 8)[:, 1].sum(dtype=np.uint64))
        writer.write(batch, timeout_s=20.0)
        pos += n
    out.send((checksum % 2**64, writer.backpressure_waits))
    writer.close()


def _reader(directory: str, index: int, total: int, seed: int, out: Connection) -> None:
    rng = np.random.default_rng(seed)
    reader = RingReader.attach("x", RAW64, index, directory=directory, wait="blocking")
    checksum, pos = 0, reader.cursor
    first = pos
    while pos < total:
        if reader.wait(10.0) == 0:
            break
        got = reader.read(int(rng.integers(1, 700)))
        if reader.policy.name == "OVERWRITE":
            pos = max(pos, reader.cursor)  # lapped: the gap is counted in reader.lost
        if len(got) == 0:
            continue  # everything it looked at was overwritten during the copy
        _, s = _check(got, pos)
        checksum += s
        pos += len(got)
        reader.advance(len(got))
    out.send((first, pos, checksum % 2**64, reader.lost))
    reader.close()


def _spawn(target: object, *args: object) -> tuple[mp.Process, Connection]:
    recv, send = CTX.Pipe(duplex=False)
    proc = CTX.Process(target=target, args=(*args, send), daemon=True)
    proc.start()
    send.close()
    return proc, recv


def _result(proc: mp.Process, conn: Connection, timeout_s: float = 60.0) -> tuple[int, ...]:
    assert conn.poll(timeout_s), f"no result from pid {proc.pid}"
    value = conn.recv()
    proc.join(10)
    assert proc.exitcode == 0
    return tuple(value)


@pytest.mark.timeout(90)
def test_stream_when_writer_and_readers_are_processes_delivers_every_record_in_order(
    shm_dir: Path,
) -> None:
    """A million records in random batches reach two reader processes complete and in order."""
    total = 1_000_000
    with Ring.create("x", RAW64, 4096, "block", max_readers=2, directory=shm_dir, readers=2,
                     block_timeout_ms=20_000):
        readers = [_spawn(_reader, str(shm_dir), k, total, 10 + k) for k in range(2)]
        writer = _spawn(_writer, str(shm_dir), total, 1)
        checksum, _ = _result(*writer)
        for proc, conn in readers:
            first, last, got_sum, lost = _result(proc, conn)
            assert (first, last, got_sum, lost) == (0, total, checksum, 0)


@pytest.mark.timeout(90)
def test_stream_when_overwrite_reader_lags_never_delivers_torn_record(shm_dir: Path) -> None:
    """A slow overwrite reader sees intact, ordered records; delivered + lost = published."""
    total = 300_000
    with Ring.create("x", RAW64, 256, "overwrite", max_readers=1, directory=shm_dir, readers=1):
        reader = _spawn(_reader, str(shm_dir), 0, total, 3)
        writer = _spawn(_writer, str(shm_dir), total, 4)
        _result(*writer)
        first, last, _, lost = _result(*reader)
        assert first == 0 and last == total
        assert ring_stats("x", shm_dir)["readers"][0]["lost"] == lost


def _slow_reader(directory: str, out: Connection) -> None:
    reader = RingReader.attach("x", RAW64, 0, directory=directory, wait="blocking")
    out.send(reader.cursor)
    pos = reader.cursor
    while True:  # consume slowly until SIGKILLed
        reader.wait(5.0)
        got = reader.read(64)
        _check(got, pos)
        pos += len(got)
        reader.advance(len(got))
        time.sleep(0.001)


@pytest.mark.timeout(90)
def test_reader_when_sigkilled_mid_stream_resumes_after_reattach_without_loss(
    shm_dir: Path,
) -> None:
    """Under block, a reader killed with SIGKILL resumes at its committed cursor: no gap."""
    total = 200_000
    with Ring.create("x", RAW64, 1024, "block", max_readers=1, directory=shm_dir, readers=1,
                     block_timeout_ms=30_000):
        victim, conn = _spawn(_slow_reader, str(shm_dir))
        assert conn.poll(10) and conn.recv() == 0
        writer = _spawn(_writer, str(shm_dir), total, 5)
        deadline = time.monotonic() + 30
        while ring_stats("x", shm_dir)["readers"][0]["cursor"] < 5_000:
            assert time.monotonic() < deadline, "reader made no progress"
            time.sleep(0.005)
        os.kill(victim.pid, signal.SIGKILL)  # type: ignore[arg-type]
        victim.join(10)
        committed = ring_stats("x", shm_dir)["readers"][0]["cursor"]
        assert 5_000 <= committed < total
        first, last, _, lost = _result(*_spawn(_reader, str(shm_dir), 0, total, 6))
        assert (first, last, lost) == (committed, total, 0)
        _result(*writer)


def _create_and_hang(directory: str, out: Connection) -> None:
    Ring.create("x", RAW64, 64, "overwrite", max_readers=2, directory=directory)
    out.send(os.getpid())
    time.sleep(60)


@pytest.mark.timeout(30)
def test_create_when_owner_was_killed_reclaims_stale_ring_and_bumps_epoch(shm_dir: Path) -> None:
    """A ring left by a SIGKILLed owner is reclaimed on create, with a higher epoch."""
    owner, conn = _spawn(_create_and_hang, str(shm_dir))
    assert conn.poll(10) and conn.recv() == owner.pid
    os.kill(owner.pid, signal.SIGKILL)  # type: ignore[arg-type]
    owner.join(10)
    with Ring.create("x", RAW64, 64, "block", max_readers=2, directory=shm_dir) as ring:
        assert ring.segment.epoch == 2 and ring_stats("x", shm_dir)["policy"] == "block"
    assert list(shm_dir.iterdir()) == []
