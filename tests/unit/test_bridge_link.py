"""engines.bridge._link.bridged_ring: the one ring a bridge end moves, checked at start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engines.bridge._link import bridged_ring
from engines.params import ParamError
from shm import Ring, RingReader, RingWriter
from shm.layout import RAW64

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def writer(shm_dir: Path) -> Iterator[RingWriter]:
    ring = Ring.create("r", RAW64, 8, "block", max_readers=1, directory=shm_dir, readers=1)
    w = RingWriter.attach("r", RAW64, directory=shm_dir)
    try:
        yield w
    finally:
        w.close()
        ring.destroy()


def test_bridged_ring_when_one_shm_ring_of_the_named_layout_returns_it(
        writer: RingWriter) -> None:
    """One writer ring of the layout the params name (or of any, when they name none)."""
    assert bridged_ring("fills_in", {"fills": writer}, RingWriter, "raw64",
                        "a ring receiver writes") == ("fills", writer)
    assert bridged_ring("fills_in", {"fills": writer}, RingWriter, "", "x") == ("fills", writer)


def test_bridged_ring_when_not_exactly_one_ring_names_what_it_has(writer: RingWriter) -> None:
    """Two rings, or none: refused with the engine, its role and the rings it has."""
    with pytest.raises(ParamError, match=r"engine ticks_out: a ring sender reads exactly one "
                                         r"ring, has \['a', 'b'\]"):
        bridged_ring("ticks_out", {"b": writer, "a": writer}, RingWriter, "", "a ring sender reads")
    with pytest.raises(ParamError, match=r"exactly one ring, has \[\]"):
        bridged_ring("ticks_out", {}, RingWriter, "", "a ring sender reads")


def test_bridged_ring_when_not_a_shm_ring_or_another_layout_names_the_ring(
        writer: RingWriter) -> None:
    """A ring that is not shm's (or not the end this engine needs) and a ring of another
    layout than params.record names are refused, naming the ring (and the param)."""
    with pytest.raises(ParamError, match=r"engine ticks_out: ring 'ticks' is not a shm ring"):
        bridged_ring("ticks_out", {"ticks": writer}, RingReader, "", "a ring sender reads")
    with pytest.raises(ParamError, match=r"engines\.fills_in\.params\.record: 'tick' is not "
                                         r"the layout of ring 'fills'"):
        bridged_ring("fills_in", {"fills": writer}, RingWriter, "tick", "a ring receiver writes")
