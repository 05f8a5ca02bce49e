"""Code versions of a live daemon: every engine's and nautilusd's own, in status, status --json,
/metrics and the `spawned` event, and the same version in all of them."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq
from _ctl_daemon import Daemon
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.timeout(90)

VERSION = re.compile(r"^\S+\+[0-9a-f]{12}$")


@pytest.fixture
def daemon(tmp_path: Path, runtime_dir: Path, shm_dir: Path) -> Iterator[Daemon]:
    with Daemon(tmp_path, runtime_dir, shm_dir, metrics_address="127.0.0.1:0") as d:
        yield d


def _spawned_event(daemon: Daemon, engine: str) -> dict[str, Any]:
    """Restart `engine` until its `spawned` event is seen on the bus (SUB joins late)."""
    sub: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, f"system.engine.{engine}.spawned".encode())
    sub.connect(daemon.request("info")["bus_sub"])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            daemon.request("restart", target=engine)
            if sub.poll(3000):
                payload: dict[str, Any] = msgpack.unpackb(sub.recv_multipart()[1])
                return payload
        raise AssertionError(f"no spawned event of {engine} within 30 s")
    finally:
        sub.close(linger=0)


def test_versions_when_daemon_runs_agree_in_status_metrics_and_spawned_event(
        daemon: Daemon) -> None:
    """Each engine's version (package version + module hash) is in status --json, the status
    table, the engine_version_info series and its spawned event; nautilusd reports its own."""
    doc = json.loads(daemon.ctl("status", "--json").stdout)
    versions = {e["name"]: e["version"] for e in doc["engines"]}
    assert all(VERSION.match(v or "") for v in versions.values()), versions
    assert VERSION.match(doc["daemon"]["version"] or ""), doc["daemon"]
    text = daemon.ctl("status").stdout
    assert doc["daemon"]["version"] in text and versions["alpha"] in text
    with urllib.request.urlopen(doc["daemon"]["metrics_url"], timeout=5) as reply:
        families = {f.name: f for f in text_string_to_metric_families(reply.read().decode())}
    info = {s.labels["engine"]: s.labels["version"]
            for s in families["nautilusd_engine_version_info"].samples}
    assert info == versions
    build = families["nautilusd_build_info"].samples[0].labels["version"]
    assert build == doc["daemon"]["version"]
    event = _spawned_event(daemon, "beta")
    assert event["version"] == versions["beta"]
