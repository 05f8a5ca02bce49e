"""Reconciliation after a chaos run: the kept rings read from position 0, record by record.

Orders published vs decided vs filled: an order is lost when it has no decision, or was
approved and has no final execution report (strategy orders are IOC: every approved order
ends FILLED or CANCELLED); filled twice when it has more than one final report or more
quantity than ordered; unapproved when a fill has no approving decision. Positions are
compared with the net filled quantity.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from engines.journal import KIND_DECISION, KIND_FILL, KIND_ORDER, journal_records
from engines.statedir import StateDir
from nautilusd import paths
from shm import RingObserver
from shm.layout import (
    DECISION,
    FILL,
    FILL_CANCELLED,
    FILL_EXPIRED,
    FILL_FILLED,
    FILL_REJECTED,
    ORDER,
    VERDICT_APPROVED,
)
from shm.ring import ring_stats

# An order is over when filled, its rest cancelled, refused as stale or by the order manager
# (never traded).
FINAL = (FILL_FILLED, FILL_CANCELLED, FILL_EXPIRED, FILL_REJECTED)


class RingWrapped(Exception):
    """A ring published more records than it holds: the run cannot be reconciled from it."""


def read_ring(shm_dir: Path, instance: str, ring: str, dtype: np.dtype[Any]) -> np.ndarray:
    """Every record ever published on `ring` (a copy), refusing a ring that wrapped."""
    with RingObserver.attach(paths.ring_segment(instance, ring), dtype, shm_dir) as observer:
        cursor = observer.published()
        if cursor > observer.capacity:
            raise RingWrapped(f"ring {ring!r}: {cursor} records published, capacity "
                              f"{observer.capacity}; raise it for a run this long")
        return observer.history(0, cursor)[1]


def unlink_instance(shm_dir: Path, instance: str) -> list[str]:
    """Remove every segment and doorbell the (stopped) instance kept."""
    removed = []
    for path in sorted(shm_dir.glob(f"{paths.segment_prefix(instance)}*")):
        path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed


def reconcile(shm_dir: Path, instance: str, runtime_dir: Path) -> dict[str, Any]:
    """The reconciliation row of a stopped run whose rings were kept."""
    orders = read_ring(shm_dir, instance, "orders", ORDER)
    decisions = read_ring(shm_dir, instance, "decisions", DECISION)
    fills = read_ring(shm_dir, instance, "fills", FILL)
    row = check_orders(orders, decisions, fills)
    row["positions_mismatch"] = check_positions(fills, runtime_dir / "positions.json")
    ticks = ring_stats(paths.ring_segment(instance, "ticks"), directory=shm_dir)
    # Overwrite overruns as each ticks reader counted them (the slow_reader row checks one
    # of them against the lap it was given).
    row["ticks_published"] = ticks["cursor"]
    row["ticks_lost_by_reader"] = [r["lost"] for r in ticks["readers"] if r["active"]]
    return row


def reconcile_journal(state_dir: Path, runtime_dir: Path) -> dict[str, Any]:
    """The reconciliation row from the journal (the rings of a run with reboots hold only
    the last boot): its orders, decisions and fills, each record once; positions against a
    replay of its fills."""
    records = journal_records(StateDir(state_dir))
    fills = records[KIND_FILL]
    row = check_orders(records[KIND_ORDER], records[KIND_DECISION], fills)
    row["positions_mismatch"] = check_positions(fills, runtime_dir / "positions.json")
    row["source"] = "journal"
    return row


def check_orders(orders: np.ndarray, decisions: np.ndarray, fills: np.ndarray
                 ) -> dict[str, Any]:
    """Counts of lost, doubly filled and unapproved orders across the three rings."""
    order_qty = {int(o["order_id"]): int(o["qty"]) for o in orders}
    decided = {int(i) for i in decisions["order_id"]}
    approved = {int(d["order_id"]) for d in decisions if d["verdict"] == VERDICT_APPROVED}
    finals: Counter[int] = Counter()
    filled: Counter[int] = Counter()
    for oid, status, qty in zip(fills["order_id"].tolist(), fills["status"].tolist(),
                                fills["qty"].tolist(), strict=True):
        filled[oid] += qty
        if status in FINAL:
            finals[oid] += 1
    undecided = [i for i in order_qty if i not in decided]
    unreported = [i for i in approved if finals[i] == 0]
    doubled = {i for i, n in finals.items() if n > 1}
    doubled |= {i for i, q in filled.items() if q > order_qty.get(i, 0) and i in order_qty}
    return {
        "orders_published": len(order_qty),
        "order_ids_unique": len(order_qty) == orders.shape[0],
        "decisions": int(decisions.shape[0]), "decided_twice": int(decisions.shape[0])
        - len(decided), "approved": len(approved), "fills": int(fills.shape[0]),
        "orders_lost": len(undecided) + len(unreported), "undecided": len(undecided),
        "approved_unreported": len(unreported), "duplicate_fills": len(doubled),
        "duplicate_exec_ids": int(fills.shape[0] - np.unique(fills["exec_id"]).size),
        "unapproved_fills": len({int(i) for i in fills["order_id"]} - approved),
        "phantom_decisions": len(decided - set(order_qty)),
        "expired": int((fills["status"] == FILL_EXPIRED).sum()),
        "lost_sample": [hex(i) for i in (undecided + unreported)[:5]],
    }


def check_positions(fills: np.ndarray, snapshot: Path) -> int | None:
    """Positions (strategy, symbol) whose quantity differs from the net filled quantity;
    None when positions left no snapshot."""
    try:
        snap = json.loads(snapshot.read_text())
    except (OSError, ValueError):
        return None
    net: defaultdict[tuple[int, int], int] = defaultdict(int)
    for f in fills[fills["qty"] > 0]:
        net[(int(f["strategy_id"]), int(f["symbol_id"]))] += int(f["side"]) * int(f["qty"])
    book = {(p["strategy_id"], p["symbol_id"]): p["qty"] for p in snap.get("positions", [])}
    keys = set(net) | set(book)
    return sum(1 for k in keys if net.get(k, 0) != book.get(k, 0))
