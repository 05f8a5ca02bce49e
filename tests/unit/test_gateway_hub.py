"""engines.gateway._hub: filters, snapshots, one frame per filter set, conflation, drops."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engines.gateway._hub import Hub, HubLimits, SubscriptionError, message_part

pytestmark = pytest.mark.timeout(30)


class Sockets:
    """Stand-in connections: what each was sent, and a settable unsent-bytes figure."""

    def __init__(self) -> None:
        self.frames: dict[str, list[dict[str, Any]]] = {}
        self.buffered: dict[str, int] = {}
        self.dropped: list[str] = []
        self.sends = 0

    def send(self, conns: list[str], frame: str) -> None:
        self.sends += 1
        for c in conns:
            self.frames.setdefault(c, []).append(json.loads(frame))


def hub(s: Sockets, **limits: Any) -> Hub:
    return Hub(HubLimits(**limits), s.send, lambda c: s.buffered.get(c, 0),
               lambda c, _why: s.dropped.append(c), ("a.", "b."))


def topics(s: Sockets, conn: str) -> list[str]:
    return [m["topic"] for f in s.frames.get(conn, []) for m in f["messages"]]


def test_flush_when_clients_share_filters_builds_one_frame_per_filter_set() -> None:
    """Two clients on the defaults and one on `a.` only: two sends, each topic filtered."""
    s = Sockets()
    h = hub(s)
    for c in ("x", "y", "z"):
        h.add(c)
    h.subscribe(h.clients["z"], ["b."], add=False)
    h.on_bus("a.1", message_part("a.1", {"v": 1}, 0))
    h.on_bus("b.1", message_part("b.1", {"v": 2}, 0))
    h.on_bus("c.1", message_part("c.1", {"v": 3}, 0))
    assert h.flush(0.0) == 5 and s.sends == 2
    assert topics(s, "x") == topics(s, "y") == ["a.1", "b.1"] and topics(s, "z") == ["a.1"]


def test_flush_when_client_slow_conflates_to_latest_then_delivers_once_drained() -> None:
    """A slow client gets nothing while its buffer is full, then each topic's last value."""
    s = Sockets()
    h = hub(s, slow_bytes=100, drop_bytes=1000)
    h.add("fast")
    h.add("slow")
    s.buffered["slow"] = 500
    for v in range(3):
        h.on_bus("a.1", message_part("a.1", {"v": v}, 0))
        h.flush(float(v))
    assert "slow" not in s.frames and len(topics(s, "fast")) == 3
    assert h.counters.conflated == 2
    s.buffered["slow"] = 0
    h.flush(4.0)
    assert [m["data"]["v"] for f in s.frames["slow"] for m in f["messages"]] == [2]


def test_flush_when_client_stays_slow_or_overflows_drops_it_and_counts() -> None:
    """Past drop_bytes, or slow past drop_after_s, a client is dropped; others are not."""
    s = Sockets()
    h = hub(s, slow_bytes=100, drop_bytes=1000, drop_after_s=5.0)
    for c in ("ok", "huge", "stuck"):
        h.add(c)
    s.buffered.update(huge=5000, stuck=500)
    h.flush(0.0)
    h.flush(6.0)
    assert s.dropped == ["huge", "stuck"] and set(h.clients) == {"ok"}
    assert h.counters.dropped_clients == 2


def test_add_when_full_refuses_and_subscribe_over_limit_names_it() -> None:
    """Client and subscription limits hold and are counted or named."""
    s = Sockets()
    h = hub(s, max_clients=1, max_subscriptions=3)
    assert h.add("one") is not None and h.add("two") is None
    assert h.counters.refused_clients == 1
    with pytest.raises(SubscriptionError, match="4 subscriptions, the limit is 3"):
        h.subscribe(h.clients["one"], ["c.", "d."], add=True)
    with pytest.raises(SubscriptionError, match="list of strings"):
        h.subscribe(h.clients["one"], "a.", add=True)


def test_snapshot_when_client_connects_has_latest_values_and_events() -> None:
    """The snapshot carries the last value of each followed topic and recent events."""
    s = Sockets()
    h = Hub(HubLimits(), s.send, lambda c: 0, lambda c, w: None, ("system.", "a."))
    client = h.add("c")
    assert client is not None
    for v in range(2):
        h.on_bus("a.1", message_part("a.1", {"v": v}, 0))
    h.on_bus("system.engine.risk.ready", message_part("system.engine.risk.ready", {}, 0))
    doc = json.loads(h.snapshot(client))
    assert [m["data"] for m in doc["latest"]] == [{"v": 1}]
    assert [m["topic"] for m in doc["events"]] == ["system.engine.risk.ready"]
