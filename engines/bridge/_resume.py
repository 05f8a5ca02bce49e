"""Where a ring receiver resumes: the map from its own ring's positions to the sender's,
kept beside the ring so that a receiver killed at any point restarts without a duplicate.

Between two discontinuities (a new stream, a gap, a LOST range) the sender's position of the
record at local position p is p + offset. The mark (local ring id, stream, offset) is stored
before the first record it covers is written: killed after the store and before the write,
the restart asks for exactly the records it did not write; killed before the store, the old
mark still describes every record the ring holds. The ring's own published cursor is the
other half, so the pair is consistent at every instant. Two slots and a selector word: a
store fills the idle slot, then flips the selector with one aligned 8-byte store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from shm import RingReader, RingWriter

SLOT_WORDS: Final = 4  # valid, local ring id, stream, offset
WORDS: Final = 1 + 2 * SLOT_WORDS  # selector, slot 0, slot 1
LAYOUT: Final = {"mark": ("<i8", WORDS)}


def ring_identity(ring: RingReader | RingWriter) -> int:
    """One incarnation of a ring segment: its creation time and epoch (a ring created or
    re-initialised again starts its positions at zero again: another identity)."""
    header = ring.segment.header
    return (header.created_ns * 1_000_003 + ring.segment.epoch) & (2**63 - 1)


@dataclass(frozen=True, slots=True)
class Resume:
    stream: int  # the sender stream the local ring's records came from
    expected: int  # its next position: the sender position after the last record written


class ResumeMark:
    """The mark over `words` (int64[WORDS], a persistent mapping in the engine)."""

    def __init__(self, words: np.ndarray, ring_id: int) -> None:
        if words.shape != (WORDS,) or words.dtype != np.dtype("<i8"):
            raise ValueError(f"resume mark: int64[{WORDS}] expected, got {words.dtype}"
                             f"[{words.shape}]")
        self.words = words
        self.ring_id = ring_id
        self.stores = 0
        self._mapped = self.current()  # what the mark says, kept: one compare per batch

    def _slot(self) -> np.ndarray:
        sel = int(self.words[0])
        return self.words[1 + SLOT_WORDS * (sel & 1):1 + SLOT_WORDS * ((sel & 1) + 1)]

    def current(self) -> tuple[int, int] | None:
        """(stream, offset) of this ring incarnation, None when the mark is another's."""
        valid, ring_id, stream, offset = (int(w) for w in self._slot())
        if not valid or ring_id != self.ring_id:
            return None
        return stream, offset

    def resume(self, local_cursor: int) -> Resume | None:
        """Where to resume, given the ring's published cursor; None: start afresh."""
        found = self.current()
        if found is None:
            return None
        return Resume(found[0], local_cursor + found[1])

    def before_write(self, stream: int, first: int, local_cursor: int) -> bool:
        """Call before writing records of `stream` from sender position `first` at local
        position `local_cursor`; stores the mark when it no longer describes them."""
        offset = first - local_cursor
        if self._mapped == (stream, offset):
            return False
        idle = 1 - (int(self.words[0]) & 1)
        base = 1 + SLOT_WORDS * idle
        self.words[base:base + SLOT_WORDS] = (1, self.ring_id, stream, offset)
        self.words[0] = idle  # the one store that makes it current
        self._mapped = (stream, offset)
        self.stores += 1
        return True
