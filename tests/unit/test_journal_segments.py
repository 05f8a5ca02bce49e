"""The journal's segments: a torn tail is cut at the last whole record at start, never
replayed; what was whole before the cut is all still there."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engines.errors import StateError
from engines.journal import Fsync, SegmentWriter, read_all
from engines.journal._segments import FRAME, MAGIC, segment_name
from engines.statedir import StateDir

pytestmark = pytest.mark.timeout(60)


def _payloads(n: int) -> list[bytes]:
    return [bytes([i % 251]) * (40 + i % 7) for i in range(n)]


def _write(state: StateDir, payloads: list[bytes], fsync: Fsync = Fsync.NONE) -> None:
    w = SegmentWriter(state, fsync)
    for p in payloads:
        w.append(7, p)
    w.commit()
    w.close()


def _records(state: StateDir) -> list[tuple[int, int, bytes]]:
    return [(seq, kind, bytes(p)) for seq, kind, p in read_all(state)]


def test_repair_when_last_record_cut_at_every_byte_keeps_the_rest(tmp_path: Path) -> None:
    """Every cut inside the last record: the writer truncates at the record before it, the
    reader returns exactly the earlier records, and the next record takes the cut one's seq."""
    payloads = _payloads(5)
    whole = StateDir.create(tmp_path / "whole")
    _write(whole, payloads)
    seg = whole.path / "journal" / segment_name(0)
    data = seg.read_bytes()
    last_start = len(data) - FRAME.size - len(payloads[-1])
    want = [(i, 7, p) for i, p in enumerate(payloads[:-1])]
    for cut in range(last_start, len(data)):
        state = StateDir.create(tmp_path / f"cut{cut}")
        journal = state.subdir("journal")
        fd = journal.open(segment_name(0), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        os.write(fd, data[:cut])
        os.close(fd)
        w = SegmentWriter(state, Fsync.NONE)
        assert w.repaired_bytes == cut - last_start
        assert w.append(7, b"after") == len(payloads) - 1
        w.close()
        assert _records(state) == [*want, (len(payloads) - 1, 7, b"after")], cut
        shutil.rmtree(state.path)


def test_read_when_a_byte_flips_stops_before_the_corrupt_record(tmp_path: Path) -> None:
    """A flipped byte fails that record's crc: nothing from it on is returned as data."""
    state = StateDir.create(tmp_path / "s")
    payloads = _payloads(4)
    _write(state, payloads, Fsync.BATCH)
    seg = state.path / "journal" / segment_name(0)
    data = bytearray(seg.read_bytes())
    second = len(MAGIC) + FRAME.size + len(payloads[0])
    data[second + FRAME.size + 3] ^= 0xFF
    seg.write_bytes(bytes(data))
    assert _records(state) == [(0, 7, payloads[0])]


def test_writer_when_segment_full_rotates_and_reader_reads_across(tmp_path: Path) -> None:
    """Segments rotate at segment_bytes; the reader returns every record in seq order."""
    state = StateDir.create(tmp_path / "s")
    w = SegmentWriter(state, Fsync.BATCH, segment_bytes=256)
    payloads = _payloads(20)
    for p in payloads:
        w.append(1, p)
        w.commit()
    w.close()
    assert len(state.subdir("journal").names()) > 3
    assert _records(state) == [(i, 1, p) for i, p in enumerate(payloads)]
    again = SegmentWriter(state, Fsync.BATCH, segment_bytes=256)
    assert again.next_seq == 20
    again.close()


def test_writer_when_segment_has_a_bad_magic_refuses_it(tmp_path: Path) -> None:
    """A file that is not a segment is an error naming it, never overwritten."""
    state = StateDir.create(tmp_path / "s")
    journal = state.subdir("journal")
    journal.write_atomic(segment_name(0), b"garbage!garbage!")
    with pytest.raises(StateError, match="bad magic"):
        SegmentWriter(state)


def test_read_all_when_a_segment_is_being_created_reads_no_record_from_it(
        tmp_path: Path) -> None:
    """A reader (positions replaying the journal at start) can find the journal's newest
    segment created but its magic not yet written: no record there, not a corrupt file; a
    different magic stays an error."""
    state = StateDir.create(tmp_path / "s")
    journal = state.subdir("journal")
    for cut in range(len(MAGIC)):
        journal.write_atomic(segment_name(0), MAGIC[:cut])
        assert list(read_all(state)) == []
    journal.write_atomic(segment_name(0), b"NDJ")
    assert list(read_all(state)) == []
    journal.write_atomic(segment_name(0), b"XDJ")
    with pytest.raises(StateError, match="bad magic"):
        list(read_all(state))


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(0, 300), min_size=1, max_size=12), cut=st.integers(0, 5000))
def test_repair_when_cut_anywhere_returns_exactly_the_whole_records_before_it(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], cut: int
) -> None:
    """Property: for any records and any cut, what survives is the longest prefix of whole
    records ending at or before the cut."""
    root = tmp_path_factory.mktemp("j")
    state = StateDir.create(root / "s")
    payloads = [bytes([n % 256]) * n for n in sizes]
    _write(state, payloads)
    seg = state.path / "journal" / segment_name(0)
    data = seg.read_bytes()
    cut = len(MAGIC) + cut % (len(data) - len(MAGIC) + 1)
    os.truncate(seg, cut)
    end, kept = len(MAGIC), 0
    for p in payloads:
        if end + FRAME.size + len(p) > cut:
            break
        end += FRAME.size + len(p)
        kept += 1
    SegmentWriter(state, Fsync.NONE).close()
    assert seg.stat().st_size == end
    assert _records(state) == [(i, 7, p) for i, p in enumerate(payloads[:kept])]
