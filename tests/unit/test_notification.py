"""Notification: bus alerts and lifecycle events become log records with journald priorities."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq
from structlog.testing import capture_logs

from engines.harness import Harness
from engines.log import PRIORITIES
from engines.notification.engine import level_for


@pytest.mark.parametrize(
    ("topic", "priority"),
    [
        ("risk.alerts.kill_switch", 2),
        ("risk.alerts.rate_limit", 4),
        ("system.engine.risk.fatal", 2),
        ("system.engine.risk.exited", 3),
        ("system.engine.critical.escalated", 2),
        ("system.engine.risk.restarting", 4),
        ("system.engine.risk.ready", 6),
        ("system.engine.risk.something_new", 6),
    ],
)
def test_level_for_when_topic_known_maps_to_journald_priority(topic: str, priority: int) -> None:
    """Kill switch and FATAL are critical, other alerts warnings, lifecycle news info."""
    assert PRIORITIES[level_for(topic)] == priority


@pytest.fixture
def bus_pub(runtime_dir: Path) -> Any:
    """A PUB bound where the engine's subscriber connects (stands in for the proxy's XPUB)."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(f"ipc://{runtime_dir}/h-bus-out.sock")
    yield sock
    sock.close(linger=0)
    ctx.term()


@pytest.mark.timeout(20)
def test_poll_when_alert_published_logs_it_and_calls_no_webhook(
    shm_dir: Path, runtime_dir: Path, bus_pub: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A risk alert on the bus becomes one warning record; the webhook is off by default."""
    def no_network(*_a: Any, **_k: Any) -> None:
        raise AssertionError("network call from the notification engine")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with Harness(shm_dir, runtime_dir, {}) as h, capture_logs() as logs:
        eng = h.engine("engines.notification:NotificationEngine", "notification", (), ())
        payload = msgpack.packb({"reason": "rate_limit", "count": 3, "engine": "risk"})
        deadline = time.monotonic() + 10
        while not [r for r in logs if r.get("topic") == "risk.alerts.rate_limit"]:
            assert time.monotonic() < deadline, "alert never logged"
            bus_pub.send_multipart([b"risk.alerts.rate_limit", payload])  # until joined
            eng.sub.socket.poll(50)
            eng.poll()
        h.stop(eng)
    record = next(r for r in logs if r.get("topic") == "risk.alerts.rate_limit")
    assert record["log_level"] == "warning" and record["count"] == 3
    assert record["alert_engine"] == "risk"  # renamed: `engine` is the emitter's own field
