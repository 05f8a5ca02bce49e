"""A bar close as FEATURE records: each symbol's indicators and its factors, for the ring.

`FeatureRows(columns, horizons)` maps Features' columns onto the record's fixed fields once
(the returns: the first, the second and the last horizon), then `fill` writes one record per
symbol that ticked in the bar into a caller-owned FEATURE buffer.
"""

from __future__ import annotations

import numpy as np

from engines.features._indicators import BarFeatures
from shm.layout import FEATURE

VALUE_FIELDS = ("close", "ema", "vol", "rsi", "vwap", "ofi")
FACTOR_FIELDS = ("momentum", "mean_reversion", "vol_rank")  # FACTOR_COLUMNS, in order
RETURN_FIELDS = ("ret_short", "ret_mid", "ret_long")
_U2_MAX = (1 << 16) - 1


class FeatureRows:
    """Writes FEATURE records from a bar's features and the factor table of that close."""

    def __init__(self, columns: tuple[str, ...], horizons: tuple[int, ...]) -> None:
        chosen = (horizons[0], horizons[1] if len(horizons) > 1 else horizons[0], horizons[-1])
        if max(chosen) > _U2_MAX:
            raise ValueError(f"horizon {max(chosen)} bars does not fit a FEATURE record "
                             f"(at most {_U2_MAX})")
        self.horizons = chosen
        self.value_cols = [columns.index(c) for c in VALUE_FIELDS]
        self.return_cols = [columns.index(f"ret_{h}") for h in chosen]

    def fill(self, bar: BarFeatures, factor_table: np.ndarray, now_ns: int,
             out: np.ndarray) -> np.ndarray:
        """The bar's records, written into the first rows of `out` (a FEATURE array with a
        row per configured symbol); `factor_table` is (n_symbols, 3), as `factors` gives."""
        k = bar.symbol_ids.shape[0]
        rec = out[:k]
        rec["origin_seq"] = bar.origin_seq
        rec["origin_ts_ns"] = bar.origin_ts_ns
        rec["bar_ns"] = bar.bar_ns
        rec["ts_ns"] = now_ns
        rec["symbol_id"] = bar.symbol_ids
        rec["horizon_short"], rec["horizon_mid"], rec["horizon_long"] = self.horizons
        rec["_pad0"] = 0
        rec["_pad1"] = 0
        for name, col in zip(VALUE_FIELDS, self.value_cols, strict=True):
            rec[name] = bar.values[:, col]
        for name, col in zip(RETURN_FIELDS, self.return_cols, strict=True):
            rec[name] = bar.values[:, col]
        rows = factor_table[bar.symbol_ids.astype(np.intp)]
        for i, name in enumerate(FACTOR_FIELDS):
            rec[name] = rows[:, i]
        return rec


def feature_buffer(n_symbols: int) -> np.ndarray:
    """A FEATURE buffer with room for one bar close of every symbol."""
    return np.zeros(max(n_symbols, 1), FEATURE)
