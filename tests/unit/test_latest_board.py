"""The latest-value board of a ring: each symbol's last record, through every write path."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from shm.errors import ShmError
from shm.latest import HEADER_BYTES, board_offset
from shm.layout import TICK
from shm.ring import Ring, RingReader, RingWriter

RAW64 = np.dtype([("a", "<u8"), ("b", "<u8"), ("_pad", "V48")])


def _ticks(syms: list[int], first_seq: int = 1) -> np.ndarray:
    out = np.zeros(len(syms), TICK)
    out["seq"] = np.arange(first_seq, first_seq + len(syms))
    out["symbol_id"] = syms
    out["bid"] = out["seq"] * 1.0
    out["ask"] = out["bid"] + 0.5
    return out


def _seq(view: memoryview | None) -> int | None:
    return None if view is None else int(np.frombuffer(view, TICK)["seq"][0])


@pytest.fixture
def board(shm_dir: Path) -> Iterator[tuple[Ring, RingWriter, RingReader]]:
    ring = Ring.create("nautilusd.t.board", TICK, 16, "overwrite", directory=shm_dir,
                       readers=1, latest_slots=4)
    writer = RingWriter.attach(ring.name, TICK, shm_dir)
    reader = RingReader.attach(ring.name, TICK, 0, shm_dir)
    yield ring, writer, reader
    reader.close()
    writer.close()
    ring.destroy()


@pytest.mark.timeout(10)
def test_latest_when_nothing_written_is_none_for_every_symbol(board: tuple) -> None:
    ring, _, reader = board
    assert ring.latest_slots == reader.latest_slots == 4
    assert [reader.latest(k) for k in range(4)] == [None] * 4


@pytest.mark.timeout(10)
def test_latest_when_batch_written_holds_each_symbols_last(board: tuple) -> None:
    """A batch of 40 (vectorised path, wrapping a 16-record ring) and one of 3 (loop)."""
    _, writer, reader = board
    writer.write(_ticks([k % 3 for k in range(40)]))
    assert [_seq(reader.latest(k)) for k in range(4)] == [40, 38, 39, None]
    writer.write(_ticks([2, 2, 0], first_seq=41))
    assert [_seq(reader.latest(k)) for k in range(3)] == [43, 38, 42]


@pytest.mark.timeout(10)
def test_latest_when_written_one_by_one_or_claimed_follows_each_record(board: tuple) -> None:
    _, writer, reader = board
    assert writer.write_bytes(_ticks([1], first_seq=7).tobytes())
    assert _seq(reader.latest(1)) == 7
    view = writer.claim(3)
    view[:] = _ticks([3, 3, 1], first_seq=8)
    writer.publish()
    assert [_seq(reader.latest(k)) for k in (1, 3)] == [10, 9]
    got = np.frombuffer(reader.latest(3), TICK)[0]  # type: ignore[arg-type]
    assert (float(got["bid"]), float(got["ask"])) == (9.0, 9.5)


@pytest.mark.timeout(10)
def test_latest_when_symbol_past_the_board_is_none_and_ring_still_carries_it(
    board: tuple,
) -> None:
    _, writer, reader = board
    writer.write(_ticks([4, 9, 0]))
    assert reader.latest(4) is None and reader.latest(9) is None and _seq(reader.latest(0)) == 3
    assert reader.read(8)["symbol_id"].tolist() == [4, 9, 0]


@pytest.mark.timeout(10)
def test_latest_when_writer_died_mid_copy_is_none_until_next_write(
    board: tuple, shm_dir: Path,
) -> None:
    """An odd sequence (a copy never finished) is never read; the next put heals the slot."""
    ring, writer, reader = board
    writer.write(_ticks([2]))
    h = ring.segment.header
    seq_at = board_offset(h.data_offset, h.capacity, h.record_size) + HEADER_BYTES + 2 * 128
    (seq,) = struct.unpack_from("<q", ring.segment.buf, seq_at)
    struct.pack_into("<q", ring.segment.buf, seq_at, seq + 1)  # as if the writer stopped there
    assert reader.latest(2) is None
    writer.write(_ticks([2], first_seq=5))
    assert _seq(reader.latest(2)) == 5


@pytest.mark.timeout(10)
def test_skip_to_end_when_records_unread_consumes_them_without_loss(board: tuple) -> None:
    _, writer, reader = board
    writer.write(_ticks([0, 1, 2]))
    assert reader.skip_to_end() == 3
    assert reader.available() == 0 and reader.lost == 0 and _seq(reader.latest(1)) == 2


@pytest.mark.timeout(10)
def test_ring_without_board_has_no_latest(shm_dir: Path) -> None:
    with Ring.create("nautilusd.t.noboard", TICK, 16, "block", directory=shm_dir,
                     readers=1) as ring:
        reader = RingReader.attach(ring.name, TICK, 0, shm_dir)
        assert ring.latest_slots == reader.latest_slots == 0 and reader.latest(0) is None
        reader.close()


@pytest.mark.timeout(10)
def test_create_when_layout_has_no_symbol_id_refuses_naming_ring_and_field(
    shm_dir: Path,
) -> None:
    with pytest.raises(ShmError, match=r"ring 'nautilusd.t.raw'.*'symbol_id'"):
        Ring.create("nautilusd.t.raw", RAW64, 16, "block", directory=shm_dir, latest_slots=2)
    assert not (shm_dir / "nautilusd.t.raw").exists()
