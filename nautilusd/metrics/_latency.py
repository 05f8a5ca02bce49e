"""Pipeline latency histograms, sampled at scrape time from records the rings already carry.

Orders, decisions and fills carry the time of the tick that caused them (origin_ts_ns) and
of each hop; at each scrape we copy the records published since the previous scrape (up to
a cap: a sample, never a stall) straight from the ring's shm, seqlock-validated, and add
their latencies to cumulative buckets. The engines do nothing extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shm import RingObserver
from shm.errors import ShmError

# Bucket upper bounds in seconds: 1 us .. 1 s.
BOUNDS_S = (1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3,
            1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0)
_EDGES_NS = np.array([b * 1e9 for b in BOUNDS_S])
# path name -> (start field, end field); a ring offers the paths its record type has fields for
PATHS = {
    "tick_to_order": ("origin_ts_ns", "order_ts_ns"),
    "order_to_decision": ("order_ts_ns", "decided_ts_ns"),
    "decision_to_fill": ("decided_ts_ns", "ts_ns"),
    "tick_to_fill": ("origin_ts_ns", "ts_ns"),
}
ORDER_PATHS = {"tick_to_order": ("origin_ts_ns", "ts_ns")}
DECISION_PATHS = {"tick_to_decision": ("origin_ts_ns", "decided_ts_ns")}


def paths_for(dtype: np.dtype[Any]) -> dict[str, tuple[str, str]]:
    """The latency paths records of `dtype` can tell (empty for ticks and raw records)."""
    names = set(dtype.names or ())
    if {"order_ts_ns", "decided_ts_ns", "origin_ts_ns", "ts_ns"} <= names:
        return PATHS
    if {"decided_ts_ns", "origin_ts_ns"} <= names:
        return DECISION_PATHS
    if {"origin_ts_ns", "ts_ns"} <= names:
        return ORDER_PATHS
    return {}


class RingLatency:
    """Cumulative histograms of one ring's paths; `sample()` runs in the scrape thread."""

    def __init__(self, ring: str, segment: str, dtype: np.dtype[Any], directory: Path,
                 max_records: int = 4096) -> None:
        self.ring, self.segment_name, self.dtype = ring, segment, dtype
        self.directory, self.max_records = directory, max_records
        self.paths = paths_for(dtype)
        self.counts = {p: np.zeros(len(BOUNDS_S) + 1, np.int64) for p in self.paths}
        self.sums_ns = dict.fromkeys(self.paths, 0)
        self._observer: RingObserver | None = None
        self._next = 0  # first position not yet sampled

    def sample(self) -> None:
        ring = self._attached()
        if ring is None:
            return
        records = self._new_records(ring)
        for path, (start, end) in self.paths.items():
            t0, t1 = records[start], records[end]
            lat = (t1 - t0)[(t0 > 0) & (t1 >= t0)]
            self.counts[path] += np.bincount(np.searchsorted(_EDGES_NS, lat, side="left"),
                                             minlength=len(BOUNDS_S) + 1)
            self.sums_ns[path] += int(lat.sum())

    def _attached(self) -> RingObserver | None:
        ring = self._observer
        if ring is not None and ring.stale():
            ring.close()  # re-created (reload, restart of nautilusd): start over
            ring = self._observer = None
        if ring is None:
            try:
                ring = self._observer = RingObserver.attach(self.segment_name, self.dtype,
                                                        self.directory)
            except (ShmError, OSError):
                return None
            self._next = ring.published()  # only what is published from now on
        return ring

    def _new_records(self, ring: RingObserver) -> np.ndarray:
        """Copies of the records published since the last sample (at most a cap of the
        newest), those the writer reached meanwhile dropped (seqlock-checked)."""
        end = ring.published()
        start = max(self._next, end - min(ring.capacity // 2, self.max_records))
        self._next = end
        return ring.history(start, end)[1]

    def histograms(self) -> list[dict[str, Any]]:
        found = []
        for path, counts in self.counts.items():
            cumulative = np.cumsum(counts)
            buckets = [(b, int(n)) for b, n in zip(BOUNDS_S, cumulative, strict=False)]
            found.append({"ring": self.ring, "path": path, "buckets": buckets,
                          "sum_s": self.sums_ns[path] / 1e9, "count": int(cumulative[-1])})
        return found

    def close(self) -> None:
        if self._observer is not None:
            self._observer.close()
            self._observer = None
