"""Risk's decision on an amendment: a cancel always passes (it only takes risk off, so even
an engaged kill switch lets it through); a replace is checked again like a new order's price
and size (invalid, kill switch, no market, price band, max qty, max notional), without moving
the projected position (the order's side and symbol do not change; its fills will).
"""

from __future__ import annotations

from math import isfinite

import numpy as np

from engines.risk._checks import RiskState
from shm.layout import (
    AMEND_CANCEL,
    AMEND_REPLACE,
    REASON_INVALID,
    REASON_KILL_SWITCH,
    REASON_MAX_NOTIONAL,
    REASON_MAX_QTY,
    REASON_NO_MARKET,
    REASON_OK,
    REASON_PRICE_BAND,
    VERDICT_APPROVED,
    VERDICT_REJECTED,
)


def amend_reason(state: RiskState, symbol_id: int, action: int, qty: int, price: float) -> int:
    """REASON_* for one amendment (REASON_OK: approve)."""
    if action == AMEND_CANCEL:
        return REASON_OK
    if (action != AMEND_REPLACE or qty <= 0 or symbol_id >= state.n_symbols
            or not isfinite(price) or price <= 0):
        return REASON_INVALID
    if state.killed:
        return REASON_KILL_SWITCH
    mid = state.last_mid[symbol_id]
    if mid != mid:
        return REASON_NO_MARKET
    if abs(price - mid) > state.band * mid:
        return REASON_PRICE_BAND
    if qty > state.max_order_qty:
        return REASON_MAX_QTY
    if qty * price > state.max_notional:
        return REASON_MAX_NOTIONAL
    return REASON_OK


def decide_amends(state: RiskState, batch: np.ndarray, now_ns: int) -> tuple[np.ndarray,
                                                                             list[int]]:
    """The batch as decided (a copy with verdict, reason and time set), and the reasons of
    the rejected ones."""
    out = batch.copy()
    rejected: list[int] = []
    for i, (sym, action, qty, price) in enumerate(zip(
            batch["symbol_id"].tolist(), batch["action"].tolist(), batch["qty"].tolist(),
            batch["price"].tolist(), strict=True)):
        code = amend_reason(state, sym, action, qty, price)
        out["verdict"][i] = VERDICT_REJECTED if code else VERDICT_APPROVED
        out["reason"][i] = code
        if code:
            rejected.append(code)
    out["decided_ts_ns"] = now_ns
    return out, rejected
