"""nautilusd.metrics.server: real HTTP scrapes of /metrics and /health over shm status, rings."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engines.spec import EngineConfig, RingConfig
from nautilusd import paths
from nautilusd.config.model import GroupConfig, SupervisorConfig, Topology
from nautilusd.metrics.server import MetricsServer, parse_address
from nautilusd.metrics.source import StatusTableSource
from nautilusd.states import State
from shm import Policy
from shm.layout import FILL, RAW64
from shm.ring import Ring, RingReader, RingWriter
from shm.status import W_CUSTOM0, W_RECORDS_IN, W_RESTARTS, W_STATE, StatusTable

pytestmark = pytest.mark.timeout(30)
INSTANCE = "mtest"


def topology(shm_dir: Path) -> Topology:
    engines = {
        "risk": EngineConfig(name="risk", group="critical"),
        "analytics": EngineConfig(name="analytics", group="default"),
    }
    ring = RingConfig(name="orders", record="raw64", capacity=64, policy=Policy.BLOCK,
                      writer="analytics", readers=("risk",))
    return Topology(
        source=Path("test.toml"),
        supervisor=SupervisorConfig(instance=INSTANCE, shm_dir=shm_dir),
        groups=MappingProxyType({"critical": GroupConfig(name="critical", critical=True),
                                 "default": GroupConfig(name="default")}),
        rings=MappingProxyType({"orders": ring}),
        engines=MappingProxyType(engines),
    )


def named_topology(shm_dir: Path) -> Topology:
    """The same engines running shipped code that declares counter names (risk, positions):
    the named-counter, kill-switch and P&L families carry samples only for such engines."""
    engines = {"risk": EngineConfig(name="risk", group="critical",
                                    entry="engines.risk:RiskEngine"),
               "analytics": EngineConfig(name="analytics", group="default",
                                         entry="engines.positions:PositionsEngine")}
    return dataclasses.replace(topology(shm_dir), engines=MappingProxyType(engines))


def exported_names(table: StatusTable, shm_dir: Path) -> set[str]:
    """Every family name a real scrape of `named_topology` exports, histograms and loop
    counters included."""
    hist = {"ring": "fills", "path": "tick_to_fill", "buckets": [(1e-4, 9)], "sum_s": 4e-4,
            "count": 10}
    source = StatusTableSource(table, named_topology(shm_dir), latency_histograms=lambda: [hist],
                               loop_stats=lambda: {"iterations_total": 1})
    with MetricsServer("127.0.0.1:0", source) as server:
        return {name for name, _labels in scrape(server)}


@pytest.fixture
def engine_proc() -> Iterator[subprocess.Popen[bytes]]:
    """A real process standing in for an engine, so psutil has CPU and RSS to read."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait(timeout=5)


@pytest.fixture
def table(shm_dir: Path, engine_proc: subprocess.Popen[bytes]) -> Iterator[StatusTable]:
    with StatusTable.create(paths.status_segment(INSTANCE), 4, directory=shm_dir) as t:
        for index, name in enumerate(("risk", "analytics")):
            slot = t.slot(index)
            slot.reset(name)
            slot.put(0, engine_proc.pid)
            slot.put(W_STATE, State.READY.code)
            slot.set_ready(True)
            slot.put(6, time.monotonic_ns() - 5_000_000_000)  # started 5 s ago
            slot.heartbeat()
        t.slot(0).put(W_RESTARTS, 3)
        t.slot(0).add(W_RECORDS_IN, 1234)
        yield t


@pytest.fixture
def orders_ring(shm_dir: Path) -> Iterator[Ring]:
    """The `orders` ring with 10 records published and 4 consumed by reader 0 (risk)."""
    name = paths.ring_segment(INSTANCE, "orders")
    with Ring.create(name, RAW64, 64, "block", max_readers=2, directory=shm_dir,
                     readers=1) as ring:
        writer = RingWriter.attach(name, RAW64, directory=shm_dir)
        reader = RingReader.attach(name, RAW64, 0, directory=shm_dir)
        try:
            writer.write(np.zeros(10, dtype=RAW64))
            reader.advance(len(reader.read(4)[:4]))
            yield ring
        finally:
            reader.close()
            writer.close()


def scrape(server: MetricsServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """GET /metrics and parse it: {(sample name, sorted labels): value}."""
    with urllib.request.urlopen(server.metrics_url, timeout=5) as reply:
        text = reply.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
    }


def get_health(server: MetricsServer) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(server.health_url, timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_scrape_when_engines_ready_reports_state_restarts_counters_and_process(
    table: StatusTable, shm_dir: Path, orders_ring: Ring,
) -> None:
    """A scrape shows each engine's state, restarts, counters, heartbeat age, CPU and RSS."""
    source = StatusTableSource(table, topology(shm_dir))
    with MetricsServer("127.0.0.1:0", source) as server:
        samples = scrape(server)
    risk = (("engine", "risk"), ("group", "critical"))
    assert samples[("nautilusd_engine_state", (*risk, ("state", "READY")))] == 1.0
    assert samples[("nautilusd_engine_state", (*risk, ("state", "FATAL")))] == 0.0
    assert samples[("nautilusd_engine_up", risk)] == 1.0
    assert samples[("nautilusd_engine_restarts_total", risk)] == 3.0
    assert samples[("nautilusd_engine_records_in_total", risk)] == 1234.0
    assert 0.0 <= samples[("nautilusd_engine_heartbeat_age_seconds", risk)] < 5.0
    assert 4.9 < samples[("nautilusd_engine_uptime_seconds", risk)] < 30.0
    assert samples[("nautilusd_engine_resident_memory_bytes", risk)] > 0
    assert ("nautilusd_engine_cpu_seconds_total", (*risk, ("mode", "user"))) in samples
    assert samples[("nautilusd_health", ())] == 0.0
    assert ("nautilusd_process_resident_memory_bytes", ()) in samples


def test_scrape_when_engines_declare_counter_names_exports_them_and_the_gauges(
    table: StatusTable, shm_dir: Path,
) -> None:
    """Named custom words become engine_counter{name}; the kill switch and P&L their gauges."""
    topo = named_topology(shm_dir)
    table.slot(0).put(W_CUSTOM0 + 1, 1)  # risk: kill_switch_engaged
    table.slot(1).put(W_CUSTOM0, -12345)  # positions: pnl_realised_cents
    with MetricsServer("127.0.0.1:0", StatusTableSource(table, topo)) as server:
        samples = scrape(server)
    risk = (("engine", "risk"), ("group", "critical"))
    assert samples[("nautilusd_engine_counter", (*risk, ("name", "kill_switch_engaged")))] == 1.0
    assert samples[("nautilusd_engine_counter", (*risk, ("name", "rejected")))] == 0.0
    assert samples[("nautilusd_kill_switch_engaged", (("engine", "risk"),))] == 1.0
    assert samples[("nautilusd_pnl", (("engine", "analytics"), ("kind", "realised")))] == -123.45
    assert not any(k[0] == "nautilusd_kill_switch_engaged" and ("engine", "analytics") in k[1]
                   for k in samples), "an engine without the word must not report the gauge"


def test_scrape_when_ring_has_lag_reports_cursor_lag_and_waits(
    table: StatusTable, shm_dir: Path, orders_ring: Ring,
) -> None:
    """Ring families carry the published cursor, the per-reader lag and back-pressure waits."""
    source = StatusTableSource(table, topology(shm_dir))
    with MetricsServer("127.0.0.1:0", source) as server:
        samples = scrape(server)
    ring = (("policy", "block"), ("ring", "orders"))
    reader = (("index", "0"), ("policy", "block"), ("reader", "risk"), ("ring", "orders"))
    assert samples[("nautilusd_ring_cursor", ring)] == 10.0
    assert samples[("nautilusd_ring_capacity_records", ring)] == 64.0
    assert samples[("nautilusd_ring_published_records_total", ring)] == 10.0
    assert samples[("nautilusd_ring_backpressure_waits_total", ring)] == 0.0
    assert samples[("nautilusd_ring_reader_cursor", reader)] == 4.0
    assert samples[("nautilusd_ring_reader_lag_records", reader)] == 6.0
    assert samples[("nautilusd_ring_reader_lost_records_total", reader)] == 0.0
    assert not any(k[0].startswith("nautilusd_ring_reader") and ("index", "1") in k[1]
                   for k in samples), "an unused reader slot must not be reported"


def test_health_when_all_ready_is_200_and_when_critical_fatal_is_503(
    table: StatusTable, shm_dir: Path,
) -> None:
    """/health answers 200 while healthy, 503 'degraded' or 'down' otherwise."""
    source = StatusTableSource(table, topology(shm_dir))
    with MetricsServer("127.0.0.1:0", source) as server:
        status, body = get_health(server)
        assert (status, body["status"]) == (200, "healthy")
        table.slot(1).put(W_STATE, State.BACKOFF.code)
        status, body = get_health(server)
        assert (status, body["status"], body["not_ready"]) == (503, "degraded", ["analytics"])
        table.slot(0).put(W_STATE, State.FATAL.code)
        status, body = get_health(server)
        assert (status, body["status"], body["critical_fatal"]) == (503, "down", ["risk"])
        assert scrape(server)[("nautilusd_health", ())] == 2.0


def test_scrape_when_source_offers_loop_stats_and_latency_exports_them(
    table: StatusTable, shm_dir: Path,
) -> None:
    """Optional loop statistics and pipeline latency histograms appear when the source has them."""
    hist = {"ring": "fills", "path": "tick_to_fill", "buckets": [(1e-5, 3), (1e-4, 9)],
            "sum_s": 4e-4, "count": 10}
    source = StatusTableSource(
        table, topology(shm_dir), loop_stats=lambda: {"iterations_total": 42, "timers": 3},
        latency_histograms=lambda: [hist],
    )
    with MetricsServer("127.0.0.1:0", source) as server:
        samples = scrape(server)
    assert samples[("nautilusd_loop_iterations_total", ())] == 42.0
    assert samples[("nautilusd_loop_timers", ())] == 3.0
    path = (("path", "tick_to_fill"), ("ring", "fills"))
    assert samples[("nautilusd_pipeline_latency_seconds_bucket", (("le", "0.0001"), *path))] == 9
    assert samples[("nautilusd_pipeline_latency_seconds_bucket", (("le", "+Inf"), *path))] == 10
    assert samples[("nautilusd_pipeline_latency_seconds_count", path)] == 10


def test_alert_rules_when_loaded_use_only_names_a_scrape_exports(
    table: StatusTable, shm_dir: Path, orders_ring: Ring,
) -> None:
    """Every nautilusd_* series configs/alerts.rules.yml and the Grafana dashboard query is
    exported: a renamed metric cannot leave a rule silently never firing."""
    exported = exported_names(table, shm_dir)
    configs = Path(__file__).resolve().parents[2] / "configs"
    for path in (configs / "alerts.rules.yml", configs / "grafana-dashboard.json"):
        used = set(re.findall(r"nautilusd_[a-z_]+[a-z]", path.read_text()))
        used -= {"nautilusd_loop"}  # part of a regex
        assert used, path
        assert used <= exported, f"{path.name} queries {sorted(used - exported)}"


def test_server_when_path_unknown_answers_404_and_url_names_bound_port(
    table: StatusTable, shm_dir: Path,
) -> None:
    """Port 0 binds a free port that metrics_url reports; other paths get 404."""
    server = MetricsServer("127.0.0.1:0", StatusTableSource(table, topology(shm_dir)))
    assert server.metrics_url == "http://127.0.0.1:0/metrics"
    with server:
        assert server.port != 0
        assert server.metrics_url == f"http://127.0.0.1:{server.port}/metrics"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server.metrics_url.replace("/metrics", "/x"), timeout=5)
        assert err.value.code == 404
        err.value.close()


def test_parse_address_when_forms_vary_defaults_host_and_rejects_bad_port() -> None:
    """Addresses accept host:port, :port and [v6]:port; a bad port names the address."""
    assert parse_address("0.0.0.0:9100") == ("0.0.0.0", 9100)
    assert parse_address(":9100") == ("127.0.0.1", 9100)
    assert parse_address("[::1]:9100") == ("::1", 9100)
    assert parse_address(None) == ("127.0.0.1", 9464)
    with pytest.raises(ValueError, match="'x:abc'"):
        parse_address("x:abc")


def test_dashboard_when_read_uses_only_exported_metric_names(
    table: StatusTable, shm_dir: Path, orders_ring: Ring,
) -> None:
    """Every metric the sample Grafana dashboard queries is present in a real scrape."""
    dashboard = json.loads((Path(__file__).parents[2] / "configs" /
                            "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    wanted = {m for e in exprs for m in re.findall(r"\bnautilusd_[a-z_]*[a-z]\b", e)}
    exported = exported_names(table, shm_dir)
    assert len(wanted) > 15
    assert wanted <= exported, f"dashboard queries unknown metrics: {sorted(wanted - exported)}"
    assert any(re.fullmatch(r"nautilusd_loop_.*_total", name) for name in exported)


def test_scrape_when_fills_published_reports_sampled_latency_histograms(
    table: StatusTable, shm_dir: Path,
) -> None:
    """Fills published between scrapes (at most half a ring per scrape) feed cumulative
    per-hop latency histograms, across the ring's wrap."""
    name = paths.ring_segment(INSTANCE, "fills")
    base = topology(shm_dir)
    fills_ring = RingConfig(name="fills", record="fill", capacity=64, policy=Policy.BLOCK,
                            writer="analytics", readers=())
    topo = Topology(source=base.source, supervisor=base.supervisor, groups=base.groups,
                    rings=MappingProxyType({"fills": fills_ring}), engines=base.engines)
    with Ring.create(name, FILL, 64, "block", max_readers=1, directory=shm_dir) as _ring:
        writer = RingWriter.attach(name, FILL, directory=shm_dir)
        try:
            with MetricsServer("127.0.0.1:0", StatusTableSource(table, topo)) as server:
                scrape(server)  # attaches: records from here on are sampled
                writer.write(fills(40, tick_to_fill_us=30))  # sampled: the newest half-ring
                first = scrape(server)
                writer.write(fills(30, tick_to_fill_us=3_000))  # positions 40..70: wraps
                second = scrape(server)
        finally:
            writer.close()
    lab = (("path", "tick_to_fill"), ("ring", "fills"))
    count, bucket = "nautilusd_pipeline_latency_seconds_count", \
        "nautilusd_pipeline_latency_seconds_bucket"
    assert first[(count, lab)] == 32
    assert first[(bucket, (("le", "2.5e-05"), *lab))] == 0
    assert first[(bucket, (("le", "5e-05"), *lab))] == 32
    assert second[(count, lab)] == 62
    assert second[(bucket, (("le", "0.0025"), *lab))] == 32
    assert second[(bucket, (("le", "0.005"), *lab))] == 62
    assert abs(second[("nautilusd_pipeline_latency_seconds_sum", lab)] - (32 * 30e-6 + 0.09)) < 1e-9
    hop = (("path", "order_to_decision"), ("ring", "fills"))
    assert second[(bucket, (("le", "1e-05"), *hop))] == 62  # 10 us per inner hop


def fills(n: int, tick_to_fill_us: int) -> np.ndarray:
    """`n` fills whose tick-to-fill latency is `tick_to_fill_us`, 10 us per inner hop."""
    records = np.zeros(n, FILL)
    origin = time.time_ns()
    records["origin_ts_ns"] = origin
    records["order_ts_ns"] = origin + 10_000
    records["decided_ts_ns"] = origin + 20_000
    records["ts_ns"] = origin + tick_to_fill_us * 1_000
    return records
