"""Shared-memory segments, record layouts, rings, wait strategies and the status table.

Depends on numpy and the standard library only; see shm.ring for the memory model.
"""

from shm._control import Policy
from shm._fastpath import load_compiled, ring_paths
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
from shm.observer import RingObserver
from shm.ring import Ring, RingReader, RingWriter, ring_stats
from shm.wait import Blocking, BusySpin, Sleeping, WaitKind, WaitStrategy, Yielding, make_wait

__all__ = [
    "AttachError",
    "Blocking",
    "BusySpin",
    "EpochChangedError",
    "Policy",
    "ReaderSlotError",
    "Ring",
    "RingFullError",
    "RingObserver",
    "RingReader",
    "RingWriter",
    "SegmentExistsError",
    "SegmentNotFoundError",
    "ShmError",
    "Sleeping",
    "UnsupportedPlatformError",
    "WaitKind",
    "WaitStrategy",
    "Yielding",
    "load_compiled",
    "make_wait",
    "ring_paths",
    "ring_stats",
]
