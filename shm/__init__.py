"""Shared-memory segments, record layouts, rings, wait strategies and the status table.

Depends on numpy and the standard library only; see shm.ring for the memory model.
"""

from shm.errors import (
    AttachError,
    EpochChangedError,
    ReaderSlotError,
    RingFullError,
    SegmentExistsError,
    SegmentNotFoundError,
    ShmError,
    UnsupportedPlatformError,
)
from shm.ring import Ring, RingReader, RingWriter, ring_stats
from shm.wait import Blocking, BusySpin, Sleeping, WaitStrategy, Yielding, make_wait

__all__ = [
    "AttachError",
    "Blocking",
    "BusySpin",
    "EpochChangedError",
    "ReaderSlotError",
    "Ring",
    "RingFullError",
    "RingReader",
    "RingWriter",
    "SegmentExistsError",
    "SegmentNotFoundError",
    "ShmError",
    "Sleeping",
    "UnsupportedPlatformError",
    "WaitStrategy",
    "Yielding",
    "make_wait",
    "ring_stats",
]
