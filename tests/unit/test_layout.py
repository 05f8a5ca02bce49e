"""Unit tests of shm.layout: record sizes, alignment and fingerprints."""

from __future__ import annotations

import numpy as np
import pytest

from shm import layout


@pytest.mark.parametrize(
    ("name", "size"), [("tick", 64), ("order", 64), ("decision", 96), ("fill", 96),
                       ("feature", 144), ("signal", 48), ("raw64", 64)]
)
def test_record_dtype_when_named_has_documented_size(name: str, size: int) -> None:
    """Every registered layout has its documented, 8-byte-multiple size."""
    assert layout.record_dtype(name).itemsize == size


def test_fingerprint_when_layouts_differ_differs_and_is_stable() -> None:
    """Fingerprints tell layouts apart and do not change between calls."""
    prints = {layout.fingerprint(dt) for dt in layout.RECORDS.values()}
    assert len(prints) == len(layout.RECORDS)
    assert layout.fingerprint(layout.TICK) == layout.fingerprint(np.dtype(layout.TICK.descr))


def test_record_dtype_when_unknown_raises_listing_known() -> None:
    """An unknown record name is named in the error along with the valid ones."""
    with pytest.raises(KeyError, match=r"'quote'.*tick"):
        layout.record_dtype("quote")
