"""The metrics source nautilusd hands its metrics server: shared memory and config only.

Safe to call from the server thread: it copies the status table and reads ring headers
(plain loads from shm), reads the frozen topology (replaced whole on reload, never mutated)
and never touches the event loop or anything it locks.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engines.counters import counter_names, named_values
from engines.spec import EngineConfig
from nautilusd import paths
from nautilusd.config.model import Topology
from nautilusd.health import assess
from nautilusd.metrics._latency import RingLatency, paths_for
from nautilusd.states import State
from shm.errors import ShmError
from shm.layout import RECORDS
from shm.status import NO_EXIT, StatusTable

RingStats = Callable[..., dict[str, Any]]


def _default_ring_stats() -> RingStats | None:
    try:
        from shm.ring import ring_stats
    except ImportError:  # rings not built into this checkout: metrics without them
        return None
    return ring_stats


class StatusTableSource:
    """A `MetricsSource` over the status table and ring headers of one instance.

    `topology` may be reassigned (on reload) from the loop thread: one reference store.
    `loop_stats` and `latency_histograms`, if given, must read plain attributes only.
    """

    def __init__(
        self, table: StatusTable, topology: Topology, *, ring_stats: RingStats | None = None,
        loop_stats: Callable[[], Mapping[str, float]] | None = None,
        latency_histograms: Callable[[], Sequence[Mapping[str, Any]]] | None = None,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        segment_of: Callable[[str], str] | None = None,
        versions: Callable[[], Mapping[str, str]] | None = None, daemon_version: str = "",
    ) -> None:
        self.table = table
        self.topology = topology
        self._ring_stats = ring_stats or _default_ring_stats()
        self._clock_ns = clock_ns
        self._segment_of = segment_of  # ring name -> segment name; None: nautilusd.paths
        self._started_ns = clock_ns()
        self._versions = versions  # instance -> code version; a reference read, no lock
        self.daemon_version = daemon_version
        self.ring_errors = 0
        if loop_stats is not None:
            self.loop_stats = loop_stats
        self._latency: dict[str, RingLatency] = {}
        if latency_histograms is not None:
            self.latency_histograms = latency_histograms  # type: ignore[method-assign,assignment]

    def status_snapshot(self) -> dict[str, Any]:
        now_ns = self._clock_ns()
        topology = self.topology
        configs = {n: e for e in topology.engines.values() for n in e.instance_names}
        versions = self._versions() if self._versions is not None else {}
        engines = [self._engine(row, configs, now_ns) for row in self.table.snapshot()
                   if row["name"]]
        for engine in engines:
            engine["version"] = versions.get(engine["name"])
        daemon = {"pid": os.getpid(), "instance": topology.supervisor.instance,
                  "uptime_s": (now_ns - self._started_ns) / 1e9,
                  "version": self.daemon_version or None}
        return {"daemon": daemon, "engines": engines}

    def _engine(self, row: np.void, configs: Mapping[str, EngineConfig],
                now_ns: int) -> dict[str, Any]:
        name = row["name"].decode(errors="replace")
        config = configs.get(name)
        pid = int(row["pid"])
        heartbeat_ns, started_ns, exit_code = (int(row["heartbeat_ns"]), int(row["started_ns"]),
                                               int(row["exit_code"]))
        return {
            "name": name, "state": _state_name(int(row["state"])), "pid": pid,
            "group": config.group if config else "", "cpus": list(config.cpus) if config else [],
            "ready": bool(row["ready"]), "restarts": int(row["restarts"]),
            "uptime_s": (now_ns - started_ns) / 1e9 if pid and started_ns else None,
            "heartbeat_age_ms": (now_ns - heartbeat_ns) / 1e6 if pid and heartbeat_ns else None,
            "last_exit": None if exit_code == NO_EXIT else exit_code,
            "counters": {"records_in": int(row["records_in"]),
                         "records_out": int(row["records_out"]),
                         "errors": int(row["errors"]), "dropped": int(row["dropped"]),
                         "custom": [int(v) for v in row["custom"]]},
            "named_counters": named_values(counter_names(config.entry) if config else (),
                                           [int(v) for v in row["custom"]]),
        }

    def ring_stats(self) -> list[dict[str, Any]]:
        if self._ring_stats is None:
            return []
        topology = self.topology
        directory = Path(topology.supervisor.shm_dir)
        found = []
        for ring in topology.rings.values():
            segment = self._segment(topology, ring.name)
            try:
                stats = dict(self._ring_stats(segment, directory=directory))
            except (ShmError, OSError):
                self.ring_errors += 1  # not created yet, or being replaced: skip this scrape
                continue
            stats["name"] = ring.name
            stats["readers"] = [{**r, "engine": _reader_name(ring.readers, r)}
                                for r in stats.get("readers", ())
                                if r.get("active") or int(r.get("index", 0)) < len(ring.readers)]
            found.append(stats)
        return found

    def latency_histograms(self) -> list[dict[str, Any]]:
        """Sampled pipeline latencies of every ring whose records carry hop timestamps."""
        topology = self.topology
        directory = Path(topology.supervisor.shm_dir)
        found: list[dict[str, Any]] = []
        for ring in topology.rings.values():
            segment = self._segment(topology, ring.name)
            sampler = self._latency.get(ring.name)
            if sampler is None or sampler.segment_name != segment:
                dtype = RECORDS.get(ring.record)
                if dtype is None or not paths_for(dtype):
                    continue
                sampler = self._latency[ring.name] = RingLatency(ring.name, segment, dtype,
                                                                 directory)
            sampler.sample()
            found.extend(sampler.histograms())
        return found

    def close(self) -> None:
        for sampler in self._latency.values():
            sampler.close()
        self._latency.clear()

    def _segment(self, topology: Topology, ring: str) -> str:
        if self._segment_of is not None:
            return self._segment_of(ring)
        return paths.ring_segment(topology.supervisor.instance, ring)

    def health(self) -> tuple[int, dict[str, Any]]:
        """The one health model (nautilusd.health) over the status table's states."""
        found = assess(self.topology, self.status_snapshot()["engines"])
        return found.code, found.as_dict()


def _state_name(code: int) -> str:
    try:
        return State.from_code(code).name
    except ValueError:
        return f"UNKNOWN({code})"


def _reader_name(readers: Sequence[str], reader: Mapping[str, Any]) -> str:
    index = int(reader.get("index", -1))
    return readers[index] if 0 <= index < len(readers) else str(index)
