"""FIX 4.4 application messages of the gateway: NewOrderSingle, OrderCancelRequest,
OrderCancelReplaceRequest and OrderStatusRequest from ring rows, ExecutionReport and
OrderCancelReject to reports (an ExecutionReport answering a status request, ExecType=I, to
the venue's view of the order: `status_answer`).

ClOrdID is the order id in decimal (an amendment's is its amend id, with the order's as
OrigClOrdID), so a report names the order it belongs to without any table that a restart
could lose. Statuses map one to one onto the fills ring's (shm.layout FILL_*).
"""

from __future__ import annotations

from typing import Any

import simplefix

from shm.layout import (
    FILL_ACCEPTED,
    FILL_AMEND_REJECTED,
    FILL_CANCELLED,
    FILL_EXPIRED,
    FILL_FILLED,
    FILL_PARTIAL,
    FILL_REJECTED,
    FILL_REPLACED,
    REASON_VENUE,
    TIF_DAY,
    TIF_FOK,
    TIF_GTC,
    TIF_IOC,
    TYPE_MARKET,
)

_TIF = {TIF_DAY: "0", TIF_GTC: "1", TIF_IOC: "3", TIF_FOK: "4"}
# ExecType (150) -> FILL status; a trade (F) is partial or full by its LeavesQty.
_EXEC_TYPE = {b"0": FILL_ACCEPTED, b"8": FILL_REJECTED, b"4": FILL_CANCELLED,
              b"5": FILL_REPLACED, b"C": FILL_EXPIRED}
Pairs = list[tuple[int, object]]


def side(value: int) -> str:
    return "1" if value > 0 else "2"


def new_order(order_id: int, symbol: str, side_: int, type_: int, tif: int, qty: int,
              price: float, ts: float) -> Pairs:
    pairs: Pairs = [(11, order_id), (55, symbol), (54, side(side_)), (38, qty),
                    (40, "1" if type_ == TYPE_MARKET else "2"), (59, _TIF.get(tif, "0"))]
    if type_ != TYPE_MARKET:
        pairs.append((44, repr(price)))
    return [*pairs, (60, _utc(ts))]


def cancel(amend_id: int, order_id: int, symbol: str, side_: int, ts: float) -> Pairs:
    return [(11, amend_id), (41, order_id), (55, symbol), (54, side(side_)), (60, _utc(ts))]


def replace(amend_id: int, order_id: int, symbol: str, side_: int, qty: int, price: float,
            ts: float) -> Pairs:
    return [(11, amend_id), (41, order_id), (55, symbol), (54, side(side_)), (38, qty),
            (40, "2"), (44, repr(price)), (60, _utc(ts))]


def status_request(order_id: int, symbol: str, side_: int) -> Pairs:
    """OrderStatusRequest (35=H) of one order, by its ClOrdID."""
    return [(11, order_id), (790, f"S{order_id}"), (55, symbol), (54, side(side_))]


# OrdStatus (39) of a status answer -> the order is over at the venue with this status.
OVER = {b"2": FILL_FILLED, b"4": FILL_CANCELLED, b"C": FILL_EXPIRED, b"8": FILL_REJECTED}


def status_answer(msg: simplefix.FixMessage) -> dict[str, Any] | None:
    """An ExecutionReport with ExecType=I (an order status) as the venue's view of the order:
    `known` (False: OrdRejReason 5, unknown order), `over` (the FILL_* status it ended with,
    or 0 while it is open), `cum` (CumQty) and `avg_px`; None for any other message."""
    if msg.get(35) != b"8" or msg.get(150) != b"I":
        return None
    return {"order_id": int(msg.get(11)), "known": msg.get(103) != b"5",
            "over": OVER.get(msg.get(39) or b"", 0), "cum": int(msg.get(14) or 0),
            "avg_px": float(msg.get(6) or 0.0), "leaves": int(msg.get(151) or 0)}


def _utc(ts: float) -> str:
    import time

    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}"


def report(msg: simplefix.FixMessage) -> dict[str, Any] | None:
    """An ExecutionReport (35=8) or OrderCancelReject (35=9) as the fields of a report, or
    None for any other message. `order_id` is the order's (OrigClOrdID for an amendment's)."""
    msg_type = msg.get(35)
    if msg_type == b"9":
        return {"order_id": int(msg.get(41)), "exec_id": None, "status": FILL_AMEND_REJECTED,
                "reason": REASON_VENUE, "qty": 0, "price": 0.0, "leaves": 0}
    if msg_type != b"8" or msg.get(150) == b"I":  # a status answer reports no event
        return None
    exec_type = msg.get(150)
    leaves = int(msg.get(151) or 0)
    if exec_type == b"F":
        status = FILL_PARTIAL if leaves else FILL_FILLED
    else:
        status = _EXEC_TYPE.get(exec_type, 0)
    orig = msg.get(41)
    order_id = int(orig if orig is not None and status in (FILL_CANCELLED, FILL_REPLACED)
                   else msg.get(11))
    return {"order_id": order_id, "exec_id": msg.get(17).decode(), "status": status,
            "reason": REASON_VENUE if status == FILL_REJECTED else 0,
            "qty": int(msg.get(32) or 0),
            "price": float(msg.get(31) or msg.get(44) or 0.0) if exec_type in (b"F", b"5")
            else 0.0, "leaves": leaves}
