"""What the journal says happened: its orders, decisions and fills as record arrays, each
record once, for the engines that rebuild their state from it at start and for checks.

A journal engine killed between its commit and its cursor's move journals the same records
again after its restart: an exact copy of a record is the same record, kept once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engines.journal._segments import read_all
from engines.statedir import StateDir
from shm.layout import DECISION, FILL, ORDER

KIND_ORDER, KIND_DECISION, KIND_FILL = 1, 2, 3
LAYOUTS: dict[int, np.dtype[Any]] = {KIND_ORDER: ORDER, KIND_DECISION: DECISION,
                                     KIND_FILL: FILL}


def has_journal(state: StateDir) -> bool:
    return state.exists("journal")


def journal_records(state: StateDir) -> dict[int, np.ndarray]:
    """kind -> every distinct record of that layout in journal order (empty without one)."""
    chunks: dict[int, list[bytes]] = {kind: [] for kind in LAYOUTS}
    if has_journal(state):
        for _seq, kind, payload in read_all(state):
            if kind in chunks and len(payload) == LAYOUTS[kind].itemsize:
                chunks[kind].append(bytes(payload))
    return {kind: _distinct(np.frombuffer(b"".join(parts), LAYOUTS[kind]))
            for kind, parts in chunks.items()}


def _distinct(records: np.ndarray) -> np.ndarray:
    """`records` without exact copies of an earlier record, in their first order."""
    if records.shape[0] < 2:
        return records.copy()
    raw = records.view(np.dtype((np.void, records.dtype.itemsize)))
    _, first = np.unique(raw, return_index=True)
    return records[np.sort(first)]


def filled_by_symbol(fills: np.ndarray, n_symbols: int,
                     strategy_id: int | None = None) -> np.ndarray:
    """Net filled quantity per symbol of a FILL array (one strategy's, or everyone's)."""
    mine = fills if strategy_id is None else fills[fills["strategy_id"] == strategy_id]
    mine = mine[(mine["qty"] > 0) & (mine["symbol_id"] < n_symbols)]
    net = np.zeros(n_symbols, dtype=np.int64)
    np.add.at(net, mine["symbol_id"].astype(np.intp),
              mine["side"].astype(np.int64) * mine["qty"])
    return net
