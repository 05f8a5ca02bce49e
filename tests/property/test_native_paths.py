"""Property test: the compiled one-record paths (shm/_native.c) against the Python closures.

Two rings of the same shape, one attached with each implementation, get the same sequence of
one-record writes, one-record reads, batch writes, skips and board look-ups (with a lapping
overwrite writer and a full block ring among them); every result, the bytes delivered, the
cursors in shm, the lost counts and the board copies must be identical. The ring suites run
against both implementations as well (`make test` repeats them with NAUTILUSD_PURE_PYTHON=1).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shm import _control as c
from shm import _fastpath
from shm.layout import TICK
from shm.ring import Ring, RingReader, RingWriter

SHM_ROOT = Path("/dev/shm")
SLOTS = 3
pytestmark = pytest.mark.skipif(not _fastpath.NATIVE, reason="compiled ring paths not built")

_op = st.one_of(
    st.tuples(st.just("write"), st.integers(0, SLOTS + 1)),
    st.tuples(st.just("batch"), st.integers(1, 9)),
    st.tuples(st.just("read"), st.integers(0, 1)),
    st.tuples(st.just("skip"), st.integers(0, 1)),
    st.tuples(st.just("latest"), st.integers(-1, SLOTS + 1)),
    st.tuples(st.just("available"), st.integers(0, 1)),
    st.tuples(st.just("wrong_size"), st.sampled_from([0, 1, TICK.itemsize - 1,
                                                       TICK.itemsize + 1])),
    st.tuples(st.just("hostile_claim"), st.integers(0, 4)),
    st.tuples(st.just("hostile_cursor"), st.integers(0, 4)),
)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Cursor values no honest party writes: near both ends of int64, and far ahead.
HOSTILE = (INT64_MIN, INT64_MIN + 1, -1, INT64_MAX, 1 << 40)


class _Side:
    """One ring with a writer and two readers, attached with one implementation."""

    def __init__(self, directory: Path, name: str, policy: str, capacity: int,
                 native: bool) -> None:
        assert _fastpath.use_native(native) is native
        try:
            self.ring = Ring.create(name, TICK, capacity, policy, directory=directory,
                                    readers=2, latest_slots=SLOTS)
            self.writer = RingWriter.attach(name, TICK, directory)
            self.readers = [RingReader.attach(name, TICK, k, directory) for k in range(2)]
        finally:
            _fastpath.use_native(True)

    def close(self) -> None:
        for r in self.readers:
            r.close()
        self.writer.close()
        self.ring.destroy()

    def state(self) -> tuple[int, ...]:
        w = self.writer._w
        slots = [c.reader_slot(self.writer.segment, k) for k in range(2)]
        out = (int(w[c.W_PUBLISHED]), int(w[c.W_CLAIM]),
               *(int(s[c.R_CURSOR]) for s in slots), *(r.lost for r in self.readers))
        for s in slots:
            s.release()
        return out


def _tick(seq: int, symbol: int) -> bytes:
    rec = np.zeros(1, TICK)
    rec["seq"], rec["symbol_id"], rec["bid"], rec["ask"] = seq, symbol, seq * 0.5, seq + 1.0
    return rec.tobytes()


def _apply(side: _Side, op: tuple[str, int], seq: int) -> object:
    kind, arg = op
    if kind == "wrong_size":  # rejected on both paths, and it must cost nobody a record
        try:
            return side.writer.write_bytes(_tick(seq, 0)[:arg] if arg < TICK.itemsize
                                           else _tick(seq, 0) + b"\0" * (arg - TICK.itemsize))
        except ValueError:
            return "ValueError"
    if kind == "hostile_claim":
        side.writer._w[c.W_CLAIM] = HOSTILE[arg]
        return None
    if kind == "hostile_cursor":  # reader 1's committed cursor, as the writer sees it
        slot = c.reader_slot(side.writer.segment, 1)
        slot[c.R_CURSOR] = HOSTILE[arg]
        slot.release()
        return None
    if kind == "write":
        return side.writer.write_bytes(_tick(seq, arg))
    if kind == "batch":
        batch = np.frombuffer(b"".join(_tick(seq + i, i % (SLOTS + 1)) for i in range(arg)),
                              TICK)
        if side.writer.policy is c.Policy.BLOCK and side.writer.free() < arg:
            return "full"
        return side.writer.write(batch)
    reader = side.readers[arg] if kind != "latest" else side.readers[0]
    if kind == "read":
        got = reader.read_one()
        return None if got is None else bytes(got)
    if kind == "skip":
        return reader.skip_to_end()
    if kind == "available":
        return reader.available()
    got = reader.latest(arg)
    return None if got is None else bytes(got)


@pytest.fixture
def directory() -> Iterator[Path]:
    path = SHM_ROOT / f"nautilusd-prop-{uuid.uuid4().hex[:10]}"
    path.mkdir(mode=0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(policy=st.sampled_from(["block", "overwrite"]), capacity=st.sampled_from([1, 4, 16]),
       ops=st.lists(_op, min_size=1, max_size=60))
def test_compiled_paths_when_any_ops_match_the_python_closures(
    directory: Path, policy: str, capacity: int, ops: list[tuple[str, int]],
) -> None:
    tag = uuid.uuid4().hex[:6]
    native = _Side(directory, f"n{tag}", policy, capacity, native=True)
    python = _Side(directory, f"p{tag}", policy, capacity, native=False)
    try:
        assert type(native.writer.write_bytes).__name__ == "builtin_function_or_method"
        assert type(python.writer.write_bytes).__name__ == "function"
        seq = 1
        for op in ops:
            got_n, got_p = _apply(native, op, seq), _apply(python, op, seq)
            assert got_n == got_p, (op, got_n, got_p)
            assert native.state() == python.state(), op
            seq += op[1] if op[0] == "batch" else 1
    finally:
        native.close()
        python.close()


def test_compiled_write_when_record_has_wrong_size_raises_and_publishes_nothing(
    directory: Path,
) -> None:
    side = _Side(directory, "w", "block", 4, native=True)
    try:
        with pytest.raises(ValueError, match="64 bytes, got 63"):
            side.writer.write_bytes(b"x" * 63)
        assert side.state()[0] == 0
        assert side.readers[0].read_one() is None
    finally:
        side.close()


def test_compiled_paths_when_ring_closed_raise_instead_of_touching_the_mapping(
    directory: Path,
) -> None:
    side = _Side(directory, "x", "overwrite", 4, native=True)
    write, read, latest = side.writer.write_bytes, side.readers[0].read_one, \
        side.readers[1]._board.get  # type: ignore[union-attr]
    assert write(_tick(1, 0))
    side.close()
    with pytest.raises(ValueError, match="released"):
        write(_tick(2, 0))
    with pytest.raises(ValueError, match="released"):
        read()
    with pytest.raises(ValueError, match="released"):
        latest(0)
