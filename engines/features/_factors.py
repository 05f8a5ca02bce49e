"""Cross-sectional factors across the configured symbols, at each bar close, vectorised.

From each symbol's latest features: momentum (z-score across symbols of the longest-horizon
return), mean reversion (minus the z-score of the close's gap to its EMA) and volatility rank
(percentile of the volatility among the symbols).
"""

from __future__ import annotations

import numpy as np

from engines.features._indicators import cs_zscore, pct_rank

FACTOR_COLUMNS = ("momentum", "mean_reversion", "vol_rank")


def factors(latest: np.ndarray, columns: tuple[str, ...]) -> np.ndarray:
    """(n_symbols, 3) factors from a features table (n_symbols, len(columns)); NaN where
    a symbol's input is not known yet."""
    ret_cols = [c for c in columns if c.startswith("ret_")]
    longest = max(ret_cols, key=lambda c: int(c.split("_")[1]))
    close, ema = latest[:, columns.index("close")], latest[:, columns.index("ema")]
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = close / ema - 1.0
    return np.stack([cs_zscore(latest[:, columns.index(longest)]), -cs_zscore(gap),
                     pct_rank(latest[:, columns.index("vol")])], axis=1)
