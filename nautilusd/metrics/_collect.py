"""The Prometheus collector: turns a metrics source's snapshot into metric families per scrape.

Engines and rings come from the source; CPU seconds and RSS from psutil, with one cached
`psutil.Process` per live pid so a recycled pid is never read as the old engine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

import psutil
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from engines.counters import WELL_KNOWN
from nautilusd.states import State

P = "nautilusd_"
_COUNTERS = (("records_in", "records consumed"), ("records_out", "records produced"),
             ("errors", "errors counted by the engine"), ("dropped", "records dropped"))
_STATES = [s.name for s in State]


def _g(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(P + name, doc, labels=labels)


def _c(name: str, doc: str, labels: list[str]) -> CounterMetricFamily:
    return CounterMetricFamily(P + name, doc, labels=labels)


class NautilusdCollector:
    """A prometheus_client custom collector reading `source` at scrape time."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self._procs: dict[int, psutil.Process] = {}
        self.errors = 0

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        status = self.source.status_snapshot()
        yield from self._engines(status.get("engines", ()))
        yield from self._rings(self.source.ring_stats())
        yield from self._daemon(status.get("daemon", {}))
        yield from self._histograms()
        took = GaugeMetricFamily(P + "scrape_duration_seconds", "time to collect this scrape")
        took.add_metric([], time.perf_counter() - started)
        yield took

    # -- engines -----------------------------------------------------------------------------

    def _engines(self, engines: Any) -> Iterator[Metric]:
        lab = ["engine", "group"]
        fam = {
            "state": _g("engine_state", "1 for the engine's current lifecycle state",
                        [*lab, "state"]),
            "up": _g("engine_up", "1 when the engine is READY", lab),
            "restarts": _c("engine_restarts", "restarts since nautilusd started", lab),
            "hb": _g("engine_heartbeat_age_seconds", "age of the last heartbeat", lab),
            "uptime": _g("engine_uptime_seconds", "seconds since the process started", lab),
            "cpu": _c("engine_cpu_seconds", "CPU time of the engine process", [*lab, "mode"]),
            "rss": _g("engine_resident_memory_bytes", "resident set size", lab),
            "custom": _c("engine_custom", "engine-defined counters", [*lab, "index"]),
            "named": _g("engine_counter", "engine-defined status words by the names the engine "
                        "declares (engines.counters)", [*lab, "name"]),
            "kill_switch_engaged": _g("kill_switch_engaged",
                                      "1 while the engine's kill switch is engaged", ["engine"]),
            "pnl": _g("pnl", "profit and loss in price units (realised, unrealised)",
                      ["engine", "kind"]),
            "version": _g("engine_version_info", "1, labelled with the code version the "
                          "engine's latest process runs (package version+module hash)",
                          [*lab, "version"]),
        }
        counters = {k: _c(f"engine_{k}", doc, lab) for k, doc in _COUNTERS}
        live: set[int] = set()
        for e in engines:
            self._engine(e, fam, counters, live)
        self._procs = {pid: p for pid, p in self._procs.items() if pid in live}
        yield from fam.values()
        yield from counters.values()

    def _engine(self, e: Mapping[str, Any], fam: dict[str, Any], counters: dict[str, Any],
                live: set[int]) -> None:
        labels = [str(e.get("name")), str(e.get("group", ""))]
        state = str(e.get("state", "STOPPED")).upper()
        for name in _STATES:
            fam["state"].add_metric([*labels, name], 1.0 if name == state else 0.0)
        fam["up"].add_metric(labels, 1.0 if state == "READY" else 0.0)
        fam["restarts"].add_metric(labels, float(e.get("restarts") or 0))
        if e.get("heartbeat_age_ms") is not None:
            fam["hb"].add_metric(labels, float(e["heartbeat_age_ms"]) / 1000.0)
        if e.get("uptime_s") is not None:
            fam["uptime"].add_metric(labels, float(e["uptime_s"]))
        engine_counters = e.get("counters") or {}
        for key, family in counters.items():
            family.add_metric(labels, float(engine_counters.get(key, 0)))
        for i, value in enumerate(engine_counters.get("custom", ())):
            fam["custom"].add_metric([*labels, str(i)], float(value))
        _named(labels, e.get("named_counters") or {}, fam)
        if e.get("version"):
            fam["version"].add_metric([*labels, str(e["version"])], 1.0)
        pid = int(e.get("pid") or 0)
        if pid > 0:
            self._process(pid, labels, fam, live)

    def _process(self, pid: int, labels: list[str], fam: dict[str, Any], live: set[int]) -> None:
        try:
            proc = self._procs.get(pid) or psutil.Process(pid)
            with proc.oneshot():
                cpu, mem = proc.cpu_times(), proc.memory_info()
        except psutil.Error:
            return  # exited between the snapshot and now: the next scrape will not list it
        self._procs[pid] = proc
        live.add(pid)
        fam["cpu"].add_metric([*labels, "user"], cpu.user)
        fam["cpu"].add_metric([*labels, "system"], cpu.system)
        fam["rss"].add_metric(labels, float(mem.rss))

    # -- rings -------------------------------------------------------------------------------

    def _rings(self, rings: Any) -> Iterator[Metric]:
        lab = ["ring", "policy"]
        rlab = [*lab, "reader", "index"]
        fam = {
            "capacity": _g("ring_capacity_records", "ring capacity in records", lab),
            "cursor": _g("ring_cursor", "writer's published position (records)", lab),
            "published": _c("ring_published_records", "records published", lab),
            "bp": _c("ring_backpressure_waits", "times the writer waited for readers", lab),
            "full": _c("ring_full_timeouts", "block timeouts: the ring stayed full", lab),
            "rcursor": _g("ring_reader_cursor", "reader's committed position", rlab),
            "lag": _g("ring_reader_lag_records", "records published, not yet consumed", rlab),
            "lost": _c("ring_reader_lost_records", "records lost to overwrite laps", rlab),
            "active": _g("ring_reader_active", "1 when a process holds the slot", rlab),
            "parked": _g("ring_reader_parked", "1 while the reader sleeps on its doorbell",
                         rlab),
        }
        for ring in rings:
            self._ring(ring, fam)
        yield from fam.values()

    def _ring(self, ring: Mapping[str, Any], fam: dict[str, Any]) -> None:
        labels = [str(ring.get("name")), str(ring.get("policy", ""))]
        fam["capacity"].add_metric(labels, float(ring.get("capacity", 0)))
        fam["cursor"].add_metric(labels, float(ring.get("cursor", 0)))
        fam["published"].add_metric(labels, float(ring.get("published_total",
                                                           ring.get("cursor", 0))))
        fam["bp"].add_metric(labels, float(ring.get("backpressure_waits", 0)))
        fam["full"].add_metric(labels, float(ring.get("full_timeouts", 0)))
        for reader in ring.get("readers", ()):
            index = str(reader.get("index", ""))
            rlabels = [*labels, str(reader.get("engine") or index), index]
            fam["rcursor"].add_metric(rlabels, float(reader.get("cursor", 0)))
            fam["lag"].add_metric(rlabels, float(reader.get("lag", 0)))
            fam["lost"].add_metric(rlabels, float(reader.get("lost", 0)))
            fam["active"].add_metric(rlabels, 1.0 if reader.get("active") else 0.0)
            fam["parked"].add_metric(rlabels, 1.0 if reader.get("parked") else 0.0)

    # -- daemon and optional extras -----------------------------------------------------------

    def _daemon(self, daemon: Mapping[str, Any]) -> Iterator[Metric]:
        code, _ = self.source.health()
        health = GaugeMetricFamily(P + "health", "0 healthy, 1 degraded, 2 down")
        health.add_metric([], float(code))
        yield health
        if daemon.get("version"):
            build = GaugeMetricFamily(P + "build_info", "1, labelled with nautilusd's own code "
                                      "version (package version+module hash)", labels=["version"])
            build.add_metric([str(daemon["version"])], 1.0)
            yield build
        if daemon.get("uptime_s") is not None:
            up = GaugeMetricFamily(P + "uptime_seconds", "seconds since nautilusd started")
            up.add_metric([], float(daemon["uptime_s"]))
            yield up
        loop_stats = getattr(self.source, "loop_stats", None)
        for key, value in (loop_stats() if loop_stats else {}).items():
            name = f"loop_{key}".removesuffix("_total")
            family = (_c if key.endswith("_total") else _g)(name, f"event loop: {key}", [])
            family.add_metric([], float(value))
            yield family

    def _histograms(self) -> Iterator[Metric]:
        latency = getattr(self.source, "latency_histograms", None)
        if latency is None:
            return
        family = HistogramMetricFamily(
            P + "pipeline_latency_seconds", "latency along a pipeline path, sampled from rings",
            labels=["ring", "path"],
        )
        for h in latency():
            buckets = [(_bound(le), float(n)) for le, n in h["buckets"]]
            if not buckets or buckets[-1][0] != "+Inf":
                buckets.append(("+Inf", float(h["count"])))
            family.add_metric([str(h.get("ring", "")), str(h["path"])], buckets,
                              float(h["sum_s"]))
        yield family


def _named(labels: list[str], named: Mapping[str, int], fam: dict[str, Any]) -> None:
    """engine_counter for each named word, and the well-known names as their own gauges."""
    for name, value in named.items():
        fam["named"].add_metric([*labels, name], float(value))
        known = WELL_KNOWN.get(name)
        if known is not None:
            metric, kind, scale = known
            fam[metric].add_metric([labels[0], kind] if kind else [labels[0]], value * scale)


def _bound(le: float | str) -> str:
    return "+Inf" if le in ("+Inf", float("inf")) else repr(float(le))
