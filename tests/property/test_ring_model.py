"""Property tests: the ring against a `collections.deque` model, for both policies.

Hypothesis drives writes (one, batch, claim/publish), reads (batch, one), advances,
readers joining, closing and leaving, at capacities from 1 up, crossing the wrap point at
every offset; the model says what each reader must see and how many records it lost.
"""

from __future__ import annotations

import collections
import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from shm import Ring, RingReader, RingWriter
from shm.layout import RAW64

READERS = 3
SHM_ROOT = Path("/dev/shm")


def _batch(start: int, n: int) -> np.ndarray:
    """Records start .. start+n-1, each carrying its position in its first 8 bytes."""
    out = np.zeros(n, RAW64)
    raw = out.view(np.uint8).reshape(n, 64)
    raw[:, :8] = np.arange(start, start + n, dtype="<u8").view(np.uint8).reshape(n, 8)
    raw[:, 8:16] = raw[:, :8] ^ 0x5A
    return out


def _ids(records: np.ndarray | memoryview) -> list[int]:
    raw = np.frombuffer(records, np.uint8).reshape(-1, 64)
    assert (raw[:, 8:16] == raw[:, :8] ^ 0x5A).all(), "torn record"
    return [int(x) for x in raw[:, :8].copy().view("<u8")[:, 0]]


class RingModel(RuleBasedStateMachine):
    """The real ring and a deque of the records it must still hold, stepped together."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = SHM_ROOT / f"nautilusd-prop-{uuid.uuid4().hex[:10]}"
        self.dir.mkdir(mode=0o700)
        self.ring: Ring | None = None
        self.readers: dict[int, RingReader] = {}
        self.cursor: dict[int, int] = {}  # model cursor of every active slot
        self.lent: set[int] = set()  # block readers holding the record read_one() returned
        self.lost: dict[int, int] = collections.defaultdict(int)
        self.held: collections.deque[int] = collections.deque()  # positions in the ring

    @initialize(
        policy=st.sampled_from(["block", "overwrite"]),
        capacity=st.sampled_from([1, 2, 4, 8, 16, 64, 1024]),
        prefill=st.integers(0, 2000),
    )
    def create(self, policy: str, capacity: int, prefill: int) -> None:
        self.policy, self.cap = policy, capacity
        self.ring = Ring.create(
            "m", RAW64, capacity, policy, max_readers=READERS, directory=self.dir
        )
        self.writer = RingWriter.attach("m", RAW64, directory=self.dir)
        self.held = collections.deque(maxlen=capacity)
        self.claimed = 0  # overwrite: the highest position ever claimed (seqlock cursor)
        # Start at an arbitrary offset in the ring so wrap-around happens everywhere.
        for i in range(prefill % (2 * capacity + 1)):
            self.writer.write_bytes(_batch(i, 1).tobytes())
            self.held.append(i)
        self.pub = self.claimed = prefill % (2 * capacity + 1)

    # -- the writer -------------------------------------------------------------------------

    def _room(self) -> int:
        if self.policy == "overwrite" or not self.cursor:
            return self.cap
        return self.cap - (self.pub - min(p - (k in self.lent) for k, p in self.cursor.items()))

    def _published(self, n: int) -> None:
        self.held.extend(range(self.pub, self.pub + n))
        self.pub += n

    @rule(n=st.integers(1, 70))
    def write_batch(self, n: int) -> None:
        if self.policy == "block" and n > self._room():
            if n <= self.cap:
                assert self.writer.try_claim(n) is None
            return
        assert self.writer.write(_batch(self.pub, n)) == n
        self.claimed = max(self.claimed, self.pub + n)
        self._published(n)

    @rule()
    def write_one(self) -> None:
        ok = self.writer.write_bytes(_batch(self.pub, 1).tobytes())
        assert ok == (self._room() >= 1)
        if ok:
            self.claimed = max(self.claimed, self.pub + 1)
            self._published(1)

    @rule(n=st.integers(1, 70), data=st.data())
    def claim_publish(self, n: int, data: st.DataObject) -> None:
        n = min(n, self.cap)
        view = self.writer.try_claim(n)
        assert (view is None) == (n > self._room())
        if view is None:
            return
        self.claimed = max(self.claimed, self.pub + n)
        k = data.draw(st.integers(0, n))
        if self.policy == "overwrite":  # slots claimed but never published are torn now
            for p in range(self.pub + k - self.cap, self.pub + n - self.cap):
                if p in self.held:
                    self.held.remove(p)
        view.view(np.uint8)[:] = _batch(self.pub, n).view(np.uint8)
        self.writer.publish(k)
        self._published(k)

    # -- readers ----------------------------------------------------------------------------

    @rule(k=st.integers(0, READERS - 1))
    def join(self, k: int) -> None:
        if k in self.readers:
            return
        self.readers[k] = RingReader.attach("m", RAW64, k, directory=self.dir)
        self.cursor.setdefault(k, self.pub)
        assert self.readers[k].cursor == self.cursor[k]

    @precondition(lambda self: self.readers)
    @rule(data=st.data(), leave=st.booleans())
    def detach(self, data: st.DataObject, leave: bool) -> None:
        k = data.draw(st.sampled_from(sorted(self.readers)))
        reader = self.readers.pop(k)
        self.lent.discard(k)
        if leave:
            reader.leave()
            del self.cursor[k]
        else:
            reader.close()  # like a crash: the slot keeps gating and resumes later

    def _expect(self, k: int, max_n: int) -> list[int]:
        pos = self.cursor[k]
        oldest = max(self.pub, self.claimed) - self.cap
        if self.policy == "overwrite" and pos < oldest:  # lapped: skip to the oldest intact
            self.lost[k] += oldest - pos
            pos = self.cursor[k] = oldest
        to_wrap = self.cap - pos % self.cap
        return list(range(pos, pos + min(self.pub - pos, max_n, to_wrap)))

    @precondition(lambda self: self.readers)
    @rule(data=st.data(), max_n=st.integers(1, 80), frac=st.floats(0, 1))
    def read_advance(self, data: st.DataObject, max_n: int, frac: float) -> None:
        k = data.draw(st.sampled_from(sorted(self.readers)))
        expected = self._expect(k, max_n)
        got = self.readers[k].read(max_n)
        assert _ids(got) == expected
        assert all(p in self.held for p in expected)
        n = int(len(got) * frac)
        self.readers[k].advance(n)  # even advance(0) releases a record read_one() lent
        self.lent.discard(k)
        self.cursor[k] += n

    @precondition(lambda self: self.readers)
    @rule(data=st.data())
    def read_one(self, data: st.DataObject) -> None:
        k = data.draw(st.sampled_from(sorted(self.readers)))
        expected = self._expect(k, 1)
        got = self.readers[k].read_one()
        self.lent.discard(k)
        if not expected:
            assert got is None
            return
        assert got is not None and _ids(got) == expected
        self.cursor[k] += 1
        if self.policy == "block":
            self.lent.add(k)

    @precondition(lambda self: self.readers)
    @rule(data=st.data())
    def wait_releases(self, data: st.DataObject) -> None:
        k = data.draw(st.sampled_from(sorted(self.readers)))
        assert self.readers[k].wait(0) == min(self.pub - self.cursor[k], self.cap)
        self.lent.discard(k)

    @invariant()
    def counters_match(self) -> None:
        if self.ring is None:
            return
        assert self.writer.cursor == self.pub
        for k, reader in self.readers.items():
            assert reader.lost == self.lost[k]
            assert reader.available() == min(self.pub - self.cursor[k], self.cap)

    def teardown(self) -> None:
        for reader in self.readers.values():
            reader.close()
        if self.ring is not None:
            self.writer.close()
            self.ring.destroy()
        left = list(self.dir.iterdir())
        shutil.rmtree(self.dir, ignore_errors=True)
        assert not left, f"left behind: {left}"


TestRingModel = RingModel.TestCase
TestRingModel.settings = settings(
    max_examples=200, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRingModel = pytest.mark.timeout(110)(TestRingModel)


@pytest.mark.timeout(60)
@settings(max_examples=200, deadline=None)
@given(capacity_log2=st.integers(0, 7), offset=st.integers(0, 127), n=st.integers(1, 128))
def test_claim_when_starting_at_any_offset_reads_back_across_wrap(
    capacity_log2: int, offset: int, n: int
) -> None:
    """A claim of n records starting at any offset is read back whole and in order."""
    cap = 1 << capacity_log2
    offset, n = offset % cap, min(n, cap)
    directory = SHM_ROOT / f"nautilusd-prop-{uuid.uuid4().hex[:10]}"
    directory.mkdir(mode=0o700)
    try:
        with Ring.create("o", RAW64, cap, "block", directory=directory, readers=1):
            writer = RingWriter.attach("o", RAW64, directory=directory)
            reader = RingReader.attach("o", RAW64, 0, directory=directory)
            if offset:
                writer.write(_batch(0, offset))
                reader.advance(offset)
            writer.claim(n).view(np.uint8)[:] = _batch(offset, n).view(np.uint8)
            writer.publish()
            got: list[int] = []
            while len(got) < n:
                chunk = _ids(reader.read(n))
                reader.advance(len(chunk))
                got += chunk
            assert got == list(range(offset, offset + n))
            reader.close(), writer.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
