"""`nautilusctl journal`'s reader: records decoded by kind, filtered by time and order id."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engines.journal import KIND_FILL, KIND_ORDER, Fsync, SegmentWriter
from engines.statedir import StateDir
from nautilusd.journalview import main, parse_since, records
from shm.layout import FILL, ORDER

pytestmark = pytest.mark.timeout(20)


def _journal(tmp_path: Path) -> StateDir:
    state = StateDir.create(tmp_path / "s")
    w = SegmentWriter(state, Fsync.NONE)
    for oid, ts in ((7, 100), (8, 200)):
        order = np.zeros(1, ORDER)
        order["order_id"], order["ts_ns"], order["qty"] = oid, ts, 5
        w.append(KIND_ORDER, order.tobytes())
        fill = np.zeros(1, FILL)
        fill["order_id"], fill["ts_ns"], fill["qty"] = oid, ts + 1, 5
        w.append(KIND_FILL, fill.tobytes())
    w.close()
    return state


def test_records_when_filtered_by_order_and_time_give_only_those(tmp_path: Path) -> None:
    """--order-id keeps one order's records, --since drops older ones; fields by name."""
    state = _journal(tmp_path)
    mine = list(records(state, None, 8))
    assert [(r["kind"], r["order_id"], r["qty"]) for r in mine] == [("order", 8, 5),
                                                                    ("fill", 8, 5)]
    assert [r["seq"] for r in records(state, 101, None)] == [1, 2, 3]


def test_parse_since_when_iso_or_ns_else_an_error_naming_it() -> None:
    assert parse_since("1000") == 1000
    assert parse_since("1970-01-01T00:00:01") == 1_000_000_000
    assert parse_since("10m") < parse_since("1m")  # ages, as logs --since takes them
    with pytest.raises(ValueError, match="'yesterday'"):
        parse_since("yesterday")


def test_main_when_export_without_parquet_file_is_a_usage_error(tmp_path: Path) -> None:
    state = _journal(tmp_path)
    assert main(["export", "--state-dir", str(state.path)]) == 2
    assert main(["--state-dir", str(state.path), "--json"]) == 0
