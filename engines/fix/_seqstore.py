"""A FIX session's sequence numbers, kept in the state directory: the next number to send and
the next one expected, as a StateFile (a write is in the file as it happens; SIGKILL keeps it).

Lost (a mismatched file, or one missing where a daemon was ready before) is reported by
`lost`: the gateway then logs on with ResetSeqNumFlag rather than guess numbers.

With `deferred_in`, the number expected moves in memory as messages come in and reaches the
file only on `commit_in()`: the gateway commits once what those messages reported is on its
fills ring, so a kill in between makes the venue send them again (a resend, recognized by
ExecID) instead of losing them.
"""

from __future__ import annotations

import numpy as np

from engines.persist import StateFile
from engines.statedir import StateDir

_OUT, _IN = 0, 1


class SeqStore:
    def __init__(self, state: StateDir, name: str, *, deferred_in: bool = False) -> None:
        self.file = StateFile(state, name, {"seq": ("<i8", 2)})
        self.seq = self.file.arrays["seq"]
        self.lost = self.file.lost
        if int(self.seq[_OUT]) < 1 or int(self.seq[_IN]) < 1:
            self.reset()
        self.deferred_in = deferred_in
        self._in = int(self.seq[_IN])

    @property
    def next_out(self) -> int:
        return int(self.seq[_OUT])

    @property
    def next_in(self) -> int:
        return self._in

    @property
    def committed_in(self) -> int:
        """The number expected as the file holds it (what a restart starts from)."""
        return int(self.seq[_IN])

    def advance_out(self) -> None:
        self.seq[_OUT] += 1

    def set_in(self, seq: int) -> None:
        self._in = seq
        if not self.deferred_in:
            self.seq[_IN] = seq

    def commit_in(self) -> None:
        """The number expected, into the file (deferred_in: once what came is published)."""
        if self.seq[_IN] != self._in:
            self.seq[_IN] = self._in

    def reset(self) -> None:
        self.seq[_OUT] = 1
        self.seq[_IN] = 1
        self._in = 1

    def flush(self) -> None:
        self.file.flush()


class MemorySeqStore(SeqStore):
    """The same numbers in memory (the test acceptor, unit tests)."""

    def __init__(self) -> None:
        self.seq = np.ones(2, dtype=np.int64)
        self.lost = False
        self.deferred_in = False
        self._in = 1

    def flush(self) -> None:
        pass
