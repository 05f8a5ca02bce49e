"""Property tests of the FEATURE and SIGNAL records: their layout (aligned, codecs and the C
header agree with the dtype), a round trip through a real ring and its latest-value board,
and a bar close written as FEATURE records carrying exactly the features and factors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engines import _schema
from engines.features import (
    FACTOR_FIELDS,
    RETURN_FIELDS,
    VALUE_FIELDS,
    FeatureParams,
    FeatureRows,
    Features,
    factors,
)
from engines.records import Fields
from shm.layout import FEATURE, RECORDS, SIGNAL, TICK, fingerprint
from shm.ring import Ring, RingReader, RingWriter

pytestmark = pytest.mark.timeout(120)
N_SYMBOLS = 4
_settings = settings(max_examples=40, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


def _records(dtype: np.dtype[Any], draw: Any, n: int) -> np.ndarray:
    """n records of `dtype` with every scalar field drawn (padding zero)."""
    out = np.zeros(n, dtype)
    for name in dtype.names or ():
        fd = dtype.fields[name][0]  # type: ignore[index]
        if name.startswith("_"):
            continue
        if fd.kind == "f":
            out[name] = draw(st.lists(floats, min_size=n, max_size=n))
        elif name == "symbol_id":
            out[name] = draw(st.lists(st.integers(0, N_SYMBOLS - 1), min_size=n, max_size=n))
        else:
            info = np.iinfo(fd)
            out[name] = draw(st.lists(st.integers(int(info.min), int(info.max)), min_size=n,
                                      max_size=n))
    return out


@pytest.mark.parametrize("dtype", [FEATURE, SIGNAL], ids=["feature", "signal"])
def test_research_record_layout_when_declared_is_aligned_and_derived_everywhere(
        dtype: np.dtype[Any]) -> None:
    """Every field sits at a multiple of its size, the record at a multiple of 8; the struct
    codec probes equal to numpy; the C header has every offset; the fingerprint is its own."""
    for name, (fd, off) in ((n, (v[0], v[1])) for n, v in dtype.fields.items()):
        assert off % fd.itemsize == 0, name
    assert dtype.itemsize % 8 == 0
    Fields(dtype)  # raises when the struct disagrees with the dtype
    header = _schema.current()
    rec = next(k for k, v in RECORDS.items() if v is dtype).upper()
    assert f"#define {rec}_SIZE {dtype.itemsize}" in header
    for name, (_fd, off) in ((n, (v[0], v[1])) for n, v in dtype.fields.items()):
        assert f"#define {rec}_{name.lstrip('_').upper()}_OFF {off}" in header
    assert len({fingerprint(d) for d in RECORDS.values()}) == len(RECORDS)
    assert _schema.HEADER.read_text() == header  # the committed header is current


@pytest.mark.parametrize("dtype", [FEATURE, SIGNAL], ids=["feature", "signal"])
@_settings
@given(data=st.data())
def test_research_records_when_written_to_a_ring_read_back_byte_identical(
        shm_dir: Path, dtype: np.dtype[Any], data: Any) -> None:
    """A batch written on an overwrite ring with a board comes back byte for byte, through
    the struct codec too, and each symbol's board slot holds its last record."""
    n = data.draw(st.integers(1, 40))
    records = _records(dtype, data.draw, n)
    ring = Ring.create("research-rt", dtype, 64, "overwrite", directory=shm_dir, readers=1,
                       latest_slots=N_SYMBOLS)
    try:
        writer = RingWriter.attach("research-rt", dtype, directory=shm_dir)
        reader = RingReader.attach("research-rt", dtype, 0, directory=shm_dir)
        writer.write(records)
        got = reader.read(n).copy()
        reader.advance(got.shape[0])
        assert got.tobytes() == records.tobytes()
        codec = Fields(dtype).struct
        for raw, rec in zip(codec.iter_unpack(records.tobytes()), records.tolist(), strict=True):
            assert codec.pack(*raw) == np.array([rec], dtype).tobytes()
        for sym in range(N_SYMBOLS):
            mine = records[records["symbol_id"] == sym]
            slot = reader.latest(sym)
            if mine.shape[0] == 0:
                assert slot is None
            else:
                assert slot is not None and bytes(slot) == mine[-1:].tobytes()
        reader.close()
        writer.close()
    finally:
        ring.destroy()


@_settings
@given(steps=st.lists(st.tuples(st.integers(1, 400_000), st.integers(0, N_SYMBOLS - 1),
                                st.integers(-5, 5), st.integers(1, 4), st.integers(1, 500),
                                st.integers(1, 500)), min_size=1, max_size=300),
       horizons=st.sampled_from(["1", "1,3", "1,2,4", "2,3,5,7"]))
def test_feature_rows_when_bars_close_carry_the_features_and_factors_of_that_close(
        steps: list[tuple[int, int, int, int, int, int]], horizons: str) -> None:
    """Each bar close's FEATURE records equal the bar's feature columns (the returns: the
    first, second and last horizon) and the factor table of that close, symbol by symbol,
    and name the tick that closed the bar."""
    ticks = np.zeros(len(steps), TICK)
    bid = np.full(N_SYMBOLS, 100.0)
    ts = 1_700_000_000_000_000_000
    for i, (gap, sym, move, spread, bsz, asz) in enumerate(steps):
        ts += gap
        bid[sym] = max(1.0, bid[sym] + move * 0.01)
        ticks[i] = (i + 1, ts, sym, 2, bid[sym], bid[sym] + spread * 0.01, bsz, asz, 0)
    features = Features(N_SYMBOLS, FeatureParams(bar_ms=1, vol_window=2, vwap_window=2,
                                                 rsi_period=3, horizons=horizons))
    rows = FeatureRows(features.columns, features.horizons)
    out = np.zeros(N_SYMBOLS, FEATURE)
    hs = features.horizons
    chosen = (hs[0], hs[1] if len(hs) > 1 else hs[0], hs[-1])
    for i in range(0, len(ticks), 37):  # batches, as an engine reads its ring
        for bar in features.update(ticks[i:i + 37]):
            table = factors(features.latest, features.columns)
            rec = rows.fill(bar, table, 5, out)
            assert rec["symbol_id"].tolist() == bar.symbol_ids.tolist()
            closer = ticks[ticks["seq"] == bar.origin_seq]
            assert closer.shape[0] == 1 and int(closer["ts_ns"][0]) == bar.origin_ts_ns
            assert bar.origin_ts_ns // 1_000_000 > bar.bar_ns // 1_000_000
            for name in VALUE_FIELDS:
                np.testing.assert_array_equal(rec[name],
                                              bar.values[:, features.columns.index(name)])
            for name, h in zip(RETURN_FIELDS, chosen, strict=True):
                np.testing.assert_array_equal(
                    rec[name], bar.values[:, features.columns.index(f"ret_{h}")])
            for k, name in enumerate(FACTOR_FIELDS):
                np.testing.assert_array_equal(rec[name], table[bar.symbol_ids, k])
            assert (rec["bar_ns"] == bar.bar_ns).all() and (rec["ts_ns"] == 5).all()
            assert [int(rec[f"horizon_{w}"][0]) for w in ("short", "mid", "long")] == \
                list(chosen)
