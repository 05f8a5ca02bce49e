"""A model's inputs from a bar's features: scale-free columns (gaps, RSI, imbalance, returns).

`INPUT_COLUMNS` name them in the meta.json of every model trained here; `model_inputs`
derives them from Features rows, for training and for inference alike.
"""

from __future__ import annotations

import numpy as np


def input_columns(feature_columns: tuple[str, ...]) -> tuple[str, ...]:
    rets = tuple(c for c in feature_columns if c.startswith("ret_"))
    return ("ema_gap", "vwap_gap", "vol", "rsi", "ofi", *rets)


def model_inputs(values: np.ndarray, feature_columns: tuple[str, ...]) -> np.ndarray:
    """float32 (n, len(input_columns)) from Features rows (n, len(feature_columns))."""
    col = {c: values[:, i] for i, c in enumerate(feature_columns)}
    with np.errstate(invalid="ignore", divide="ignore"):
        derived = [col["close"] / col["ema"] - 1.0, col["close"] / col["vwap"] - 1.0,
                   col["vol"], (col["rsi"] - 50.0) / 50.0, np.tanh(col["ofi"] / 1e3)]
    derived.extend(col[c] for c in feature_columns if c.startswith("ret_"))
    return np.stack(derived, axis=1).astype(np.float32)
