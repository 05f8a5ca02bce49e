"""Property test: a ring's latest-value board against a dict model (symbol -> last record).

Hypothesis mixes the three write paths (one record, batch, claim/publish) with symbol ids
inside and outside the board, on rings of both policies small enough to wrap often; after
every write, each symbol's board entry must be the last record written for it (or None).
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shm import Ring, RingReader, RingWriter
from shm.layout import TICK

SLOTS = 5
SHM_ROOT = Path("/dev/shm")

_write = st.tuples(st.sampled_from(["one", "batch", "claim"]),
                   st.lists(st.integers(0, SLOTS + 2), min_size=1, max_size=40))


@pytest.mark.timeout(120)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=st.sampled_from(["block", "overwrite"]), capacity=st.sampled_from([4, 16, 64]),
       writes=st.lists(_write, min_size=1, max_size=25))
def test_board_when_any_writes_holds_each_symbols_last_record(
    policy: str, capacity: int, writes: list[tuple[str, list[int]]],
) -> None:
    directory = SHM_ROOT / f"nautilusd-prop-{uuid.uuid4().hex[:10]}"
    directory.mkdir(mode=0o700)
    try:
        with Ring.create("b", TICK, capacity, policy, directory=directory, readers=1,
                         latest_slots=SLOTS):
            writer = RingWriter.attach("b", TICK, directory)
            reader = RingReader.attach("b", TICK, 0, directory)
            model: dict[int, int] = {}
            seq = 0
            for path, syms in writes:
                syms = syms[:capacity]  # one claim holds at most a ring
                batch = np.zeros(len(syms), TICK)
                batch["seq"] = np.arange(seq + 1, seq + 1 + len(syms))
                batch["symbol_id"] = syms
                batch["bid"] = batch["seq"] * 0.25
                seq += len(syms)
                if path == "one":
                    for row in batch:
                        assert writer.write_bytes(row.tobytes())
                        reader.skip_to_end()  # a block ring must not fill up
                elif path == "batch":
                    writer.write(batch)
                else:
                    writer.claim(len(syms))[:] = batch
                    writer.publish()
                reader.skip_to_end()
                for s, q in zip(syms, batch["seq"].tolist(), strict=True):
                    if s < SLOTS:
                        model[s] = q
                for s in range(SLOTS + 2):
                    got = reader.latest(s)
                    if s not in model:
                        assert got is None
                        continue
                    assert got is not None
                    rec = np.frombuffer(got, TICK)[0]
                    assert int(rec["seq"]) == model[s] and int(rec["symbol_id"]) == s
                    assert float(rec["bid"]) == model[s] * 0.25  # the whole record, not torn
            reader.close()
            writer.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
