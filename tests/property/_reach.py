"""What a transition table {(state, trigger): next_state} can lead to, for the table tests.

A walk over the table only: the machines themselves are driven by the property tests.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, TypeVar

S = TypeVar("S", bound=Hashable)


def reachable(table: Mapping[tuple[S, Any], S], start: S) -> set[S]:
    """Every state some run of triggers takes `start` to, `start` included."""
    seen, frontier = {start}, [start]
    while frontier:
        current = frontier.pop()
        for (state, _), nxt in table.items():
            if state == current and nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return seen
