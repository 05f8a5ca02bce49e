"""Record layouts carried by the rings: fixed-size numpy structured dtypes, documented per field.

Every layout is naturally aligned and padded to a multiple of 8 bytes; its fingerprint
(a hash of the dtype description) goes in the segment header so that a reader built for
another layout is refused at attach time.
"""

from __future__ import annotations

import hashlib
from typing import Final

import numpy as np

# -- Tick: one top-of-book update (64 bytes) -----------------------------------------------------
TICK: Final = np.dtype(
    [
        ("seq", "<u8"),  # feed sequence number, strictly increasing per feed, starts at 1
        ("ts_ns", "<i8"),  # time the feed produced the tick, CLOCK_REALTIME ns
        ("symbol_id", "<u4"),  # index into the topology's symbol table
        ("flags", "<u4"),  # bit 0: synthetic, bit 1: replayed, bit 2: burst
        ("bid", "<f8"),  # best bid price
        ("ask", "<f8"),  # best ask price
        ("bid_size", "<i8"),  # quantity at the best bid
        ("ask_size", "<i8"),  # quantity at the best ask
        ("_pad", "<u8"),  # reserved, zero
    ]
)

# Order sides, types and times in force.
SIDE_BUY: Final = 1
SIDE_SELL: Final = -1
TYPE_MARKET: Final = 0
TYPE_LIMIT: Final = 1
TIF_DAY: Final = 0
TIF_IOC: Final = 1
TIF_FOK: Final = 2
TIF_GTC: Final = 3

# -- Order: a strategy's new-order request (64 bytes) --------------------------------------------
_ORDER_FIELDS: Final = [
    ("order_id", "<u8"),  # unique per host: strategy_id << 40 | per-strategy counter
    ("strategy_id", "<u4"),  # the strategy instance that sent it
    ("symbol_id", "<u4"),  # instrument
    ("side", "i1"),  # SIDE_BUY (+1) or SIDE_SELL (-1)
    ("type", "u1"),  # TYPE_MARKET or TYPE_LIMIT
    ("tif", "u1"),  # time in force: TIF_DAY, TIF_IOC, TIF_FOK, TIF_GTC
    ("_pad0", "u1"),
    # time to live after ts_ns: older orders are stale, risk rejects them (REASON_STALE) and
    # execution refuses them (FILL_EXPIRED); 0 = the risk engine's default
    ("ttl_ms", "<u4"),
    ("qty", "<i8"),  # quantity, > 0
    ("price", "<f8"),  # limit price (for market orders: the reference price seen)
    ("ts_ns", "<i8"),  # time the strategy created the order, CLOCK_REALTIME ns
    ("origin_seq", "<u8"),  # seq of the tick that triggered the order
    ("origin_ts_ns", "<i8"),  # ts_ns of that tick: the start of tick-to-fill latency
]
ORDER: Final = np.dtype(_ORDER_FIELDS)

# Risk verdicts and reason codes.
VERDICT_APPROVED: Final = 1
VERDICT_REJECTED: Final = 2
REASON_OK: Final = 0
REASON_MAX_QTY: Final = 1
REASON_MAX_NOTIONAL: Final = 2
REASON_MAX_POSITION: Final = 3
REASON_MAX_GROSS: Final = 4
REASON_PRICE_BAND: Final = 5
REASON_RATE_LIMIT: Final = 6
REASON_KILL_SWITCH: Final = 7
REASON_NO_MARKET: Final = 8
REASON_INVALID: Final = 9
REASON_STALE: Final = 10  # older than its time to live when risk saw it
REASON_BUDGET: Final = 17  # would take its strategy past the portfolio's budget for it
REASON_NO_BUDGET: Final = 18  # budgets required, none in force for it (missing, stale, malformed)
# Reasons the order manager or a venue gives (in a FILL_REJECTED / FILL_AMEND_REJECTED report).
REASON_TICK_SIZE: Final = 11  # limit price not a multiple of the symbol's tick size
REASON_LOT_SIZE: Final = 12  # quantity not a multiple of the symbol's lot size
REASON_SELF_MATCH: Final = 13  # would trade against a resting order of the same strategy
REASON_UNKNOWN_ORDER: Final = 14  # a cancel or replace of an order that is not open
REASON_VENUE_DOWN: Final = 15  # the venue's session is not up: nothing is sent
REASON_VENUE: Final = 16  # the venue refused it (its own reason is in the venue's log)

# -- RiskDecision: the order as decided by pre-trade risk (96 bytes) -----------------------------
DECISION: Final = np.dtype(
    [
        *_ORDER_FIELDS,  # the order exactly as received
        ("verdict", "u1"),  # VERDICT_APPROVED or VERDICT_REJECTED
        ("_pad2", "u1"),
        ("reason", "<u2"),  # REASON_* code (REASON_OK when approved)
        ("_pad3", "<u4"),
        ("decided_ts_ns", "<i8"),  # time risk decided, CLOCK_REALTIME ns
        ("_pad4", "<u8", (2,)),
    ]
)

# Fill liquidity flags and statuses.
LIQUIDITY_MAKER: Final = 1
LIQUIDITY_TAKER: Final = 2
FILL_PARTIAL: Final = 1
FILL_FILLED: Final = 2
FILL_CANCELLED: Final = 3  # the unfilled rest of an IOC order, qty 0
FILL_REJECTED: Final = 4  # refused by the venue or the order manager, qty 0
FILL_EXPIRED: Final = 5  # past its time to live when execution got it: never sent, qty 0
FILL_ACCEPTED: Final = 6  # acknowledged, resting at the venue: qty 0, leaves_qty open
FILL_REPLACED: Final = 7  # a replace took effect: qty 0, price and leaves_qty the new ones
FILL_AMEND_REJECTED: Final = 8  # a cancel or replace refused (reason): the order is unchanged
# Smart order routing: a parent order (order_id) is sent as child orders (child 1, 2, ...),
# one per venue at most. Neither report moves the parent (qty 0): its fills, its last report.
FILL_ROUTED: Final = 9  # child sent to venue_id: leaves_qty its quantity, price its venue's touch
FILL_CHILD_REJECTED: Final = 10  # child refused by venue_id (reason): re-routed if the venue's

# -- Fill: an execution report from the venue (96 bytes) -----------------------------------------
# The fills ring is the order-events ring: every report of an order's life is one record, in
# the order the venue made them (an order that ends in its first report, such as an IOC that
# trades at once, needs no FILL_ACCEPTED before it).
FILL: Final = np.dtype(
    [
        ("order_id", "<u8"),  # the order this execution belongs to
        ("exec_id", "<u8"),  # unique per execution, increasing per venue session
        ("strategy_id", "<u4"),  # copied from the order
        ("symbol_id", "<u4"),  # copied from the order
        ("side", "i1"),  # copied from the order
        ("liquidity", "u1"),  # LIQUIDITY_MAKER or LIQUIDITY_TAKER
        ("status", "u1"),  # FILL_* (partial, filled, cancelled, rejected, expired, accepted...)
        # routed orders (several venues): 1 + the venue's index in execution's routing list
        # (configs name the venues), 0 when the order went to the one venue without routing
        ("venue_id", "u1"),
        ("reason", "<u2"),  # REASON_* of a FILL_REJECTED or FILL_AMEND_REJECTED, else 0
        ("child", "<u2"),  # routed: the child order (1, 2, ... per parent order_id), else 0
        ("qty", "<i8"),  # quantity of this execution (0 for cancel / reject)
        ("price", "<f8"),  # execution price
        ("leaves_qty", "<i8"),  # quantity still open on the order after this execution
        ("ts_ns", "<i8"),  # time the venue executed, CLOCK_REALTIME ns
        ("origin_seq", "<u8"),  # carried through: seq of the originating tick
        ("origin_ts_ns", "<i8"),  # carried through: ts_ns of the originating tick
        ("order_ts_ns", "<i8"),  # carried through: time the strategy created the order
        ("decided_ts_ns", "<i8"),  # carried through: time risk approved the order
    ]
)

# Amendment actions.
AMEND_CANCEL: Final = 1
AMEND_REPLACE: Final = 2

# -- Amend: a cancel or replace of an open order, as requested and as decided (64 bytes) ---------
# Strategy writes it on its amends ring (verdict 0); risk decides it onto its amend-decisions
# ring (a cancel always passes, a replace is checked again); execution applies it and reports
# on the fills ring (FILL_CANCELLED, FILL_REPLACED or FILL_AMEND_REJECTED with a reason).
AMEND: Final = np.dtype(
    [
        ("amend_id", "<u8"),  # this request: from the strategy's order-id counter (never reused)
        ("order_id", "<u8"),  # the open order it amends
        ("strategy_id", "<u4"),  # the strategy that owns the order
        ("symbol_id", "<u4"),  # the order's instrument
        ("action", "u1"),  # AMEND_CANCEL or AMEND_REPLACE
        ("side", "i1"),  # the order's side
        ("verdict", "u1"),  # 0 as requested; VERDICT_APPROVED or VERDICT_REJECTED by risk
        ("_pad0", "u1"),
        ("reason", "<u2"),  # REASON_* when rejected by risk
        ("_pad1", "<u2"),
        ("qty", "<i8"),  # replace: the order's new total quantity (filled part included)
        ("price", "<f8"),  # replace: the new limit price
        ("ts_ns", "<i8"),  # time the strategy made the request, CLOCK_REALTIME ns
        ("decided_ts_ns", "<i8"),  # time risk decided it, CLOCK_REALTIME ns
    ]
)

# -- Feature: one symbol's indicators and factors at a bar close (144 bytes) ---------------------
# The features engine writes one per symbol that ticked in the bar, when the bar closes (its
# indicators only change then); a value not known yet (too few bars) is NaN. The returns are
# over the configured horizons: the first, the second and the last (horizon_* say how many bars).
FEATURE: Final = np.dtype(
    [
        ("origin_seq", "<u8"),  # seq of the tick that closed the bar (the first of the next)
        ("origin_ts_ns", "<i8"),  # ts_ns of that tick: the input time of these features
        ("bar_ns", "<i8"),  # start of the bar, ns since the epoch (ts_ns // bar length)
        ("ts_ns", "<i8"),  # time the features engine computed them (its clock)
        ("symbol_id", "<u4"),  # instrument
        ("horizon_short", "<u2"),  # bars of ret_short (the first configured horizon)
        ("horizon_mid", "<u2"),  # bars of ret_mid (the second, else the first)
        ("horizon_long", "<u2"),  # bars of ret_long (the last)
        ("_pad0", "<u2"),
        ("_pad1", "<u4"),
        ("close", "<f8"),  # the bar's last mid
        ("ema", "<f8"),  # EMA of the closes
        ("vol", "<f8"),  # std of log returns over the volatility window
        ("rsi", "<f8"),  # Wilder's RSI, 0..100
        ("vwap", "<f8"),  # touch-size weighted mid over the VWAP window
        ("ofi", "<f8"),  # order-flow imbalance of the bar
        ("ret_short", "<f8"),  # close / close horizon_short bars ago - 1
        ("ret_mid", "<f8"),
        ("ret_long", "<f8"),
        ("momentum", "<f8"),  # factor: z-score across symbols of ret_long
        ("mean_reversion", "<f8"),  # factor: minus the z-score of close / ema - 1
        ("vol_rank", "<f8"),  # factor: percentile of vol among the symbols, 0..1
    ]
)

# -- Signal: a model's prediction for one symbol at a bar close (48 bytes) ----------------------
SIGNAL: Final = np.dtype(
    [
        ("origin_seq", "<u8"),  # seq of the tick that closed the bar the inputs are of
        ("origin_ts_ns", "<i8"),  # ts_ns of that tick: the prediction's input timestamp
        ("bar_ns", "<i8"),  # start of that bar (joins a FEATURE of the same symbol)
        ("ts_ns", "<i8"),  # time the models engine predicted (its clock)
        ("symbol_id", "<u4"),  # instrument
        ("model_version", "<u4"),  # registry version that made the prediction (never 0)
        ("prediction", "<f8"),  # the model's output: the next bar's return it expects
    ]
)

# -- Raw: an opaque 64-byte record, for benchmarks and user payloads -----------------------------
RAW64: Final = np.dtype([("data", "u1", (64,))])

RECORDS: Final[dict[str, np.dtype[np.void]]] = {
    "tick": TICK,
    "order": ORDER,
    "decision": DECISION,
    "fill": FILL,
    "amend": AMEND,
    "feature": FEATURE,
    "signal": SIGNAL,
    "raw64": RAW64,
}


def fingerprint(dtype: np.dtype[np.void]) -> int:
    """A stable 63-bit hash of the dtype's field names, formats, offsets and size."""
    descr = repr((dtype.descr, dtype.itemsize)).encode()
    return int.from_bytes(hashlib.blake2b(descr, digest_size=8).digest(), "little") >> 1


def record_dtype(name: str) -> np.dtype[np.void]:
    """The layout registered as `name`, or a KeyError that lists the valid names."""
    try:
        return RECORDS[name]
    except KeyError:
        raise KeyError(f"unknown record type {name!r}; known: {sorted(RECORDS)}") from None


for _name, _dt in RECORDS.items():
    if _dt.itemsize % 8:  # pragma: no cover - a layout bug, caught at import
        raise AssertionError(f"layout {_name} is {_dt.itemsize} bytes, not a multiple of 8")
