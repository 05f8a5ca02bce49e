"""Hostile input at ring attach: wrong record layouts, capacities and corrupted headers.

Whatever an attaching party brings, or whatever happened to the header bytes, attach either
works or raises a ShmError naming the segment: never another exception, never a crash, and a
refused attach leaves the ring exactly as it was.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shm.errors import AttachError, ShmError
from shm.layout import ORDER, RECORDS
from shm.ring import Ring, RingReader, RingWriter, ring_stats
from shm.segment import BLOCK_BYTES, KIND_RING, Segment

NAME = "hostile"
CAPACITY = 64
FIELD_FORMATS = ["<u8", "<i8", "<u4", "<i4", "<f8", "u1", "i1", "<u2"]

_settings = settings(max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def ring(shm_dir: Path) -> Iterator[Ring]:
    """An ORDER block ring holding five records, its writer gone, reader slot 0 reserved."""
    ring = Ring.create(NAME, ORDER, CAPACITY, "block", directory=shm_dir, readers=1)
    writer = RingWriter.attach(NAME, ORDER, directory=shm_dir)
    records = np.zeros(5, ORDER)
    records["order_id"] = np.arange(1, 6)
    writer.write(records)
    writer.close()
    yield ring
    ring.destroy()


def _file_bytes(ring: Ring) -> bytes:
    return ring.segment.path.read_bytes()


structured = st.lists(
    st.tuples(st.text("abcdefgh", min_size=1, max_size=6), st.sampled_from(FIELD_FORMATS)),
    min_size=1, max_size=8, unique_by=lambda f: f[0],
).map(np.dtype)


@pytest.mark.timeout(60)
@_settings
@given(dtype=st.one_of(structured, st.sampled_from([d for n, d in RECORDS.items()
                                                    if n != "order"])))
def test_attach_when_dtype_wrong_raises_naming_segment_and_leaves_ring_intact(
    ring: Ring, shm_dir: Path, dtype: np.dtype
) -> None:
    """Any other record layout is refused by reader, writer and owner alike, naming the
    segment and both values, and not one byte of the segment changes."""
    before = _file_bytes(ring)
    for attach in (lambda: RingReader.attach(NAME, dtype, 0, directory=shm_dir),
                   lambda: RingWriter.attach(NAME, dtype, directory=shm_dir)):
        with pytest.raises(AttachError) as info:
            attach()
        err = info.value
        assert err.segment == NAME and err.field in ("dtype fingerprint", "record size")
        assert str(err.expected) in str(err) and str(err.found) in str(err)
    assert _file_bytes(ring) == before


@pytest.mark.timeout(60)
@_settings
@given(capacity=st.integers(min_value=1, max_value=1 << 40).filter(lambda n: n != CAPACITY))
def test_attach_when_capacity_expected_differs_raises_naming_both(
    ring: Ring, shm_dir: Path, capacity: int
) -> None:
    """An attacher expecting another capacity (a config out of step with the ring) is
    refused with both capacities in the message."""
    with pytest.raises(AttachError) as info:
        Segment.attach(NAME, kind=KIND_RING, capacity=capacity, directory=shm_dir)
    assert (info.value.field, info.value.expected, info.value.found) == (
        "capacity", capacity, CAPACITY)
    assert f"'{NAME}'" in str(info.value) and str(capacity) in str(info.value)


def _use_as_reader(shm_dir: Path) -> None:
    reader = RingReader.attach(NAME, ORDER, 0, directory=shm_dir)
    try:
        reader.read(CAPACITY)
        reader.read_one()
        reader.available()
    finally:
        reader.close()


def _use_as_writer(shm_dir: Path) -> None:
    writer = RingWriter.attach(NAME, ORDER, directory=shm_dir)
    try:
        if writer.try_claim(1) is not None:
            writer.publish(0)
    finally:
        writer.close()


@pytest.mark.timeout(90)
@_settings
@given(offset=st.integers(min_value=0, max_value=BLOCK_BYTES - 1),
       garbage=st.binary(min_size=1, max_size=8))
def test_attach_when_header_bytes_corrupted_works_or_raises_shm_error(
    ring: Ring, shm_dir: Path, offset: int, garbage: bytes
) -> None:
    """Random bytes over any part of the header: attaching as reader, writer or for stats
    either works or raises a ShmError naming the segment, never anything else."""
    path = ring.segment.path
    original = path.read_bytes()
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(garbage[: BLOCK_BYTES - offset])
    try:
        for use in (_use_as_reader, _use_as_writer,
                    lambda d: ring_stats(NAME, directory=d)):
            with contextlib.suppress(ShmError):
                use(shm_dir)
    finally:
        with open(path, "r+b") as f:
            f.write(original)


@pytest.mark.timeout(30)
def test_attach_when_capacity_field_zeroed_raises_naming_segment(
    ring: Ring, shm_dir: Path
) -> None:
    """A header whose capacity is not a power of two is refused by name, not used."""
    with open(ring.segment.path, "r+b") as f:
        f.seek(24)  # capacity
        f.write((0).to_bytes(8, "little"))
    with pytest.raises(ShmError, match=NAME):
        _use_as_reader(shm_dir)
