"""After a logon, before trading again: the gateway's open orders against the venue's view.

`open` holds every order sent and not over (with the quantity reported traded); a status
answer (engines.fix._messages.status_answer) of one of them gives the reports still missing:
an order the venue never took is rejected (its NewOrderSingle was lost with a killed
gateway), an order over at the venue is reported over, with any quantity traded beyond what
was reported. Nothing is reported twice: a status answer only adds what the reports lack.
"""

from __future__ import annotations

from typing import Any

from shm.layout import (
    FILL_CANCELLED,
    FILL_EXPIRED,
    FILL_FILLED,
    FILL_PARTIAL,
    FILL_REJECTED,
    REASON_VENUE,
)

FINAL = (FILL_FILLED, FILL_CANCELLED, FILL_EXPIRED, FILL_REJECTED)
# (status, reason, qty, price, leaves) of one report
Report = tuple[int, int, int, float, int]


def missing_reports(answer: dict[str, Any], reported_qty: int) -> list[Report]:
    """The reports an open order lacks, given the venue's status answer."""
    if not answer["known"]:
        return [(FILL_REJECTED, REASON_VENUE, 0, 0.0, 0)]
    extra = answer["cum"] - reported_qty
    over, leaves = answer["over"], answer["leaves"]
    out: list[Report] = []
    if over == FILL_FILLED:
        return [(FILL_FILLED, 0, max(extra, 0), answer["avg_px"], 0)]
    if extra > 0:
        out.append((FILL_PARTIAL, 0, extra, answer["avg_px"], 0 if over else leaves))
    if over:
        out.append((over, REASON_VENUE if over == FILL_REJECTED else 0, 0, 0.0, 0))
    return out
