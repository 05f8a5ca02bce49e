"""Tests of the bus: Publisher / Subscriber through a real BusProxy on real ipc sockets."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq

from engines.bus import Publisher, Subscriber
from nautilusd.busproxy import BusProxy
from nautilusd.loop import EventLoop
from nautilusd.paths import bus_pub_endpoint, bus_sub_endpoint

pytestmark = pytest.mark.timeout(30)


class Bus:
    """A proxy in a loop that the test pumps from its own thread, plus the sockets it made."""

    def __init__(self, runtime_dir: Path, **proxy_kwargs: Any) -> None:
        self.context = zmq.Context()
        self.loop = EventLoop()
        self.pub_endpoint = bus_pub_endpoint(runtime_dir)
        self.sub_endpoint = bus_sub_endpoint(runtime_dir)
        self.proxy = BusProxy(self.pub_endpoint, self.sub_endpoint, self.loop,
                              context=self.context, **proxy_kwargs)
        self.closables: list[Any] = [self.proxy]

    def publisher(self, **kwargs: Any) -> Publisher:
        pub = Publisher(self.pub_endpoint, context=self.context, **kwargs)
        self.closables.append(pub)
        return pub

    def subscriber(self, topics: tuple[str, ...], **kwargs: Any) -> Subscriber:
        sub = Subscriber(self.sub_endpoint, topics, context=self.context, **kwargs)
        self.closables.append(sub)
        return sub

    def pump_until(self, condition: Callable[[], Any], timeout_s: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.loop.run_once(0.01)
            result = condition()
            if result:
                return result
        raise AssertionError(f"condition not met within {timeout_s} s")

    def close(self) -> None:
        for item in reversed(self.closables):
            item.close()
        self.context.term()


@pytest.fixture
def bus(runtime_dir: Path) -> Iterator[Bus]:
    b = Bus(runtime_dir)
    yield b
    b.close()


def _connected(bus: Bus, pub: Publisher, sub: Subscriber, topic: str) -> None:
    """Publish probes until one arrives: subscriptions propagate asynchronously."""
    bus.pump_until(lambda: pub.publish(topic, {"probe": True}) and sub.recv(10))


def _real(sub: Subscriber) -> tuple[str, Any] | None:
    """The next message that is not a connection probe, if any has arrived."""
    while (message := sub.recv(0)) is not None:
        if message[1] != {"probe": True}:
            return message
    return None


def test_publish_when_subscribed_to_prefix_delivers_matching_topics_only(bus: Bus) -> None:
    """A subscriber to `trading.positions.*` gets those topics and not market data."""
    pub = bus.publisher()
    sub = bus.subscriber(("trading.positions.*",))
    _connected(bus, pub, sub, "trading.positions.probe")
    pub.publish("market.data.bars.AAPL", {"close": 1.0})
    pub.publish("trading.positions.strat1", {"qty": 5})
    got = bus.pump_until(lambda: _real(sub))
    assert got == ("trading.positions.strat1", {"qty": 5})
    assert pub.dropped == 0


def test_lifecycle_event_when_supervisor_emits_is_published_under_system_topic(bus: Bus) -> None:
    """attach_to registers a listener that publishes system.engine.<name>.<event>."""
    listeners: list[Callable[[str, str, dict[str, Any]], None]] = []
    supervisor = type("S", (), {"add_event_listener": lambda self, cb: listeners.append(cb)})()
    bus.proxy.attach_to(supervisor)
    sub = bus.subscriber(("system.engine.",))
    bus.pump_until(lambda: bus.proxy.stats()["subscriptions"] >= 1)
    listeners[0]("risk", "exited", {"code": 3, "pid": 42})
    topic, payload = bus.pump_until(lambda: sub.recv(0))
    assert topic == "system.engine.risk.exited"
    assert payload == {"name": "risk", "event": "exited", "code": 3, "pid": 42}


def test_subscriber_when_payload_undecodable_counts_and_skips_it(bus: Bus) -> None:
    """Garbage payloads and wrong frame counts are counted in .dropped, never raised."""
    raw = bus.context.socket(zmq.PUB)
    raw.linger = 0
    bus.closables.append(raw)
    raw.connect(bus.pub_endpoint)
    sub = bus.subscriber(("t",))
    bus.pump_until(lambda: raw.send_multipart([b"t", msgpack.packb(0)]) or sub.recv(10))
    raw.send_multipart([b"t", b"\xc1\xc1"])
    raw.send_multipart([b"t", b"a", b"b"])
    raw.send_multipart([b"t\xff", msgpack.packb(1)])
    raw.send_multipart([b"t", msgpack.packb({(1, 2): 3}, strict_types=False)])
    raw.send_multipart([b"t", msgpack.packb({"ok": 1})])
    got = bus.pump_until(lambda: _skip_probes(sub, 0))
    assert got == ("t", {"ok": 1})
    assert sub.dropped == 4


def _skip_probes(sub: Subscriber, probe: Any) -> tuple[str, Any] | None:
    while (message := sub.recv(0)) is not None:
        if message[1] != probe:
            return message
    return None


def test_publisher_when_proxy_not_reading_drops_and_counts_without_blocking(bus: Bus) -> None:
    """With the proxy stalled, publish returns False at the high-water mark and counts it."""
    pub = bus.publisher(sndhwm=20)
    sub = bus.subscriber(("x",))
    _connected(bus, pub, sub, "x")
    sent_before, started = pub.sent, time.monotonic()
    results = [pub.publish("x", {"i": i}) for i in range(5000)]  # loop not pumped: stalled
    assert time.monotonic() - started < 2.0
    assert pub.dropped == results.count(False) > 0
    assert pub.sent - sent_before == results.count(True)


def test_proxy_when_one_subscriber_is_slow_still_feeds_the_fast_one(runtime_dir: Path) -> None:
    """A subscriber that never reads loses messages at its own mark; the fast one gets all."""
    bus = Bus(runtime_dir, hwm=50)
    try:
        pub = bus.publisher()
        slow = bus.subscriber(("x",), rcvhwm=10)
        fast = bus.subscriber(("x",))
        _connected(bus, pub, fast, "x")
        for i in range(2000):  # lock-step: each message is delivered before the next
            assert pub.publish("x", {"i": i})
            assert bus.pump_until(lambda: _real(fast)) == ("x", {"i": i})
        slow_got = 0
        while slow.recv(0) is not None:
            slow_got += 1
        assert pub.dropped == 0 and bus.proxy.stats()["forward_drops"] == 0
        assert 0 < slow_got < 500  # it kept what fit under its marks, lost the rest
    finally:
        bus.close()


def test_publisher_when_subscribers_churn_drains_subscription_notices(bus: Bus) -> None:
    """Subscription notices queued at a publisher are drained as it publishes."""
    pub = bus.publisher()
    for i in range(20):
        sub = Subscriber(bus.sub_endpoint, (f"churn{i}",), context=bus.context)
        bus.pump_until(lambda i=i: bus.proxy.stats()["subscriptions"] > i)
        sub.close()
    bus.pump_until(lambda: bus.proxy.stats()["unsubscriptions"] >= 20)
    bus.pump_until(lambda: pub.socket.poll(0))  # notices have reached the publisher
    assert pub.drain_subscriptions() > 0
    assert pub.drain_subscriptions() == 0
