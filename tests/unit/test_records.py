"""engines.records: struct codecs and field positions derived from the shm.layout dtypes."""

from __future__ import annotations

import numpy as np
import pytest

from engines.records import (
    DECISION_F,
    DECISION_SUFFIX_F,
    FILL_F,
    ORDER_F,
    TICK_F,
    TOUCH_F,
    Fields,
)
from shm.layout import DECISION, FILL, ORDER, RECORDS, TICK


def _numbered(dtype: np.dtype) -> np.ndarray:
    """One record whose scalar fields hold 1, 2, 3... in layout order."""
    r = np.zeros(1, dtype)
    for i, name in enumerate(n for n in dtype.names if dtype[n].subdtype is None):
        r[name] = i + 1
    return r


@pytest.mark.parametrize(("fields", "dtype"), [(TICK_F, TICK), (ORDER_F, ORDER),
                                               (DECISION_F, DECISION), (FILL_F, FILL)])
def test_fields_when_whole_record_unpacks_as_numpy_tolist(fields: Fields,
                                                          dtype: np.dtype) -> None:
    """A whole-record struct gives the tolist() row (scalar padding kept, subarrays skipped)."""
    r = _numbered(dtype)
    row = fields.struct.unpack(r.tobytes())
    assert fields.struct.size == dtype.itemsize
    assert list(row) == [v for v in r.tolist()[0] if not isinstance(v, tuple | np.ndarray)]
    assert fields.struct.pack(*row) == r.tobytes()


def test_fields_when_projected_reads_named_fields_and_packs_zero_elsewhere() -> None:
    """A projection unpacks only its fields, packs the rest of the record as zeros."""
    fields = Fields(ORDER, ("strategy_id", "qty", "origin_ts_ns"))
    r = _numbered(ORDER)
    assert fields.struct.unpack(r.tobytes()) == (2, 9, 13)
    packed = np.frombuffer(fields.struct.pack(2, 9, 13), ORDER)
    assert packed[["strategy_id", "qty", "origin_ts_ns"]].tolist()[0] == (2, 9, 13)
    assert packed["order_id"][0] == 0 and packed["price"][0] == 0.0
    assert (fields.strategy_id, fields.qty, fields.origin_ts_ns) == (0, 1, 2)


def test_fields_when_position_is_asked_by_name_matches_the_dtype_order() -> None:
    """Positions are attributes and items; ORDER_F.qty is the qty field's index."""
    assert ORDER_F.qty == ORDER_F["qty"] == list(ORDER.names).index("qty")
    assert DECISION_F.verdict == list(DECISION.names).index("verdict")


def test_fields_when_unknown_field_asked_raises_naming_it() -> None:
    """A typo in a field name fails at once, naming the field and the record."""
    with pytest.raises(AttributeError, match=r"order.*no field 'qyt'"):
        _ = ORDER_F.qyt
    with pytest.raises(ValueError, match=r"order has no field \['qyt'\]"):
        Fields(ORDER, ("qyt",))


def test_fields_when_names_out_of_layout_order_raise() -> None:
    """A struct cannot reorder bytes: names out of layout order are refused."""
    with pytest.raises(ValueError, match="layout order"):
        Fields(ORDER, ("qty", "strategy_id"))


def test_fields_when_frozen_refuses_assignment() -> None:
    """Field positions are constants."""
    with pytest.raises(AttributeError, match="read-only"):
        ORDER_F.qty = 3  # type: ignore[misc]


def test_decision_suffix_when_packed_after_order_bytes_makes_the_decision() -> None:
    """An ORDER's bytes plus DECISION_SUFFIX_F at ORDER.itemsize are the DECISION."""
    order = _numbered(ORDER)
    raw = bytearray(DECISION.itemsize)
    raw[: ORDER.itemsize] = order.tobytes()
    DECISION_SUFFIX_F.struct.pack_into(raw, DECISION_SUFFIX_F.start, 1, 7, 99)
    d = np.frombuffer(bytes(raw), DECISION)
    assert d[["qty", "verdict", "reason", "decided_ts_ns"]].tolist()[0] == (9, 1, 7, 99)


def test_touch_when_unpacked_from_a_whole_tick_gives_bid_ask_and_sizes() -> None:
    """A board look-up gives a whole tick; TOUCH_F takes its four touch fields."""
    assert TOUCH_F.struct.unpack(_numbered(TICK).tobytes()) == (5, 6, 7, 8)


@pytest.mark.parametrize("name", sorted(set(RECORDS) - {"raw64"}))
def test_fields_when_every_record_projected_one_field_reads_it(name: str) -> None:
    """Each field alone reads back what numpy wrote there, for every record."""
    dtype = RECORDS[name]
    r = _numbered(dtype)
    for field in (n for n in dtype.names if dtype[n].subdtype is None):
        assert Fields(dtype, (field,)).struct.unpack(r.tobytes())[0] == r[field][0]
