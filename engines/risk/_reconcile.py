"""Risk's start on a new ring set with a journal: positions and undecided orders from it.

What risk read and the journal never got (or the reverse) went with the old rings; the
journal is the durability point, so the filled positions are its fills, and an order it
holds with no decision (a power cut between the two) is rejected stale now.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from engines.journal import KIND_DECISION, KIND_FILL, KIND_ORDER, filled_by_symbol, journal_records
from engines.risk._checks import RiskState, write_decisions
from engines.risk._dedupe import DecidedIds
from engines.statedir import StateDir
from shm.layout import DECISION, REASON_STALE, VERDICT_REJECTED


def reconcile_from_journal(state_dir: StateDir, state: RiskState, order_rings: list[Any],
                           decisions: Any, decided: DecidedIds) -> dict[str, Any]:
    """Filled positions (and each strategy's, with budgets) from the journal's fills, nothing
    open; every journaled order without a decision is decided stale onto `decisions`. Before
    READY. Returns what was reconciled (risk.status `reconciled`)."""
    started = time.monotonic()
    records = journal_records(state_dir)
    orders, decided_ids = records[KIND_ORDER], records[KIND_DECISION]["order_id"]
    state.position[:] = filled_by_symbol(records[KIND_FILL], state.n_symbols)
    if state.budgets is not None:
        state.budgets.set_filled(records[KIND_FILL])
    state.clear_open()
    known = set(decided_ids.tolist())
    for ring in order_rings:  # what this ring set holds is decided as usual (up to what is
        # published: a reader's history stops at its own cursor, 0 here)
        held = ring.history(0, ring.cursor + ring.available())[1]
        known.update(held["order_id"].tolist())
    undecided = orders[[oid not in known for oid in orders["order_id"].tolist()]]
    if undecided.shape[0]:
        out = np.zeros(undecided.shape[0], DECISION)
        write_decisions(undecided, np.full(undecided.shape[0], VERDICT_REJECTED, np.uint8),
                        np.full(undecided.shape[0], REASON_STALE, np.uint16), out,
                        time.time_ns())
        decisions.write(out)
        decided.record(undecided)
    return {"records": int(sum(r.shape[0] for r in records.values())),
            "last_order_id": int(orders["order_id"].max()) if orders.shape[0] else 0,
            "position": state.position.tolist(), "rejected_stale": int(undecided.shape[0]),
            "duration_ms": round((time.monotonic() - started) * 1e3, 3)}
