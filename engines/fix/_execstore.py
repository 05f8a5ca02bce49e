"""The venue ExecIDs a gateway has reported, kept in the state directory (bounded: the last
CAPACITY), so a report the venue sends again after a restart (a resend, PossDupFlag or
PossResend) is recognized and never booked twice.

An ExecID is stored as a 63-bit digest with where its report goes (the fills-ring position,
the order id and the gateway's exec_id of that record), first pending (before the write),
then done (once the ring has it). A pending entry found on start is resolved against the
ring: done when the record at its position is that report (the kill came after the write),
dropped when it is not (the report never reached the ring: its resend must be booked).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

from engines.persist import StateFile
from engines.statedir import StateDir

CAPACITY = 65_536  # far more ExecIDs than a resend after a restart can name
_PENDING, _DONE = 1, 2


def digest(exec_id: str) -> int:
    """The ExecID as 63 bits (blake2b): what the file keeps and lookups use."""
    return int.from_bytes(hashlib.blake2b(exec_id.encode(), digest_size=8).digest(),
                          "little") >> 1


class ExecStore:
    def __init__(self, state: StateDir, name: str, capacity: int = CAPACITY) -> None:
        self.file = StateFile(state, name, {
            "ids": ("<i8", capacity), "pos": ("<i8", capacity), "order": ("<u8", capacity),
            "ours": ("<u8", capacity), "state": ("<i8", capacity), "head": ("<i8", 1)})
        self.ids, self.pos = self.file.arrays["ids"], self.file.arrays["pos"]
        self.order, self.ours = self.file.arrays["order"], self.file.arrays["ours"]
        self.state, self.head = self.file.arrays["state"], self.file.arrays["head"]
        self.capacity = capacity
        self.lost = self.file.lost
        self.slot: dict[int, int] = {}  # digest -> slot
        self.pending: list[int] = []  # slots written pending since the last commit

    def load(self, published: Callable[[int, int, int], bool]) -> int:
        """Index every done entry; resolve every pending one with `published(pos, order_id,
        exec_id)` (is the ring's record at pos this report?); how many pending were done."""
        resolved = 0
        for i in np.flatnonzero(self.state == _PENDING).tolist():
            if published(int(self.pos[i]), int(self.order[i]), int(self.ours[i])):
                self.state[i] = _DONE
                resolved += 1
            else:
                self.state[i] = 0
        for i in np.flatnonzero(self.state == _DONE).tolist():
            self.slot[int(self.ids[i])] = i
        return resolved

    def __contains__(self, key: int) -> bool:
        return key in self.slot

    def add(self, key: int, pos: int, order_id: int, exec_id: int) -> None:
        """`key`'s report goes to the fills ring at `pos`: pending until commit()."""
        i = int(self.head[0]) % self.capacity
        old = int(self.ids[i])
        if self.state[i] and self.slot.get(old) == i:
            del self.slot[old]
        self.state[i] = 0
        self.ids[i], self.pos[i], self.order[i], self.ours[i] = key, pos, order_id, exec_id
        self.state[i] = _PENDING
        self.head[0] += 1
        self.slot[key] = i
        self.pending.append(i)

    def commit(self) -> None:
        """Every pending entry is on the ring now."""
        for i in self.pending:
            self.state[i] = _DONE
        self.pending.clear()

    def flush(self) -> None:
        self.file.flush()
