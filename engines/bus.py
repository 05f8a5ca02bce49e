"""Bus helpers for engines: publish and subscribe msgpack maps under dotted topics.

A message is two frames, [topic bytes, msgpack payload]. Publishers never block and count
what they drop; subscribers count and skip payloads they cannot decode.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgpack
import zmq

from engines.errors import BusError

DEFAULT_HWM = 10_000  # messages queued per peer before drops start
DRAIN_EVERY_MASK = 255  # drain subscription notices every 256 sends


class Publisher:
    """Connects to the proxy's XSUB side; `publish` drops (and counts) instead of blocking.

    An XPUB with XPUB_NODROP is used rather than a PUB: a PUB drops silently at its
    high-water mark, while XPUB_NODROP makes a full queue raise EAGAIN, which we count.
    """

    __slots__ = ("_packer", "dropped", "endpoint", "sent", "socket")

    def __init__(self, endpoint: str, *, context: zmq.Context[Any] | None = None,
                 sndhwm: int = DEFAULT_HWM) -> None:
        self.endpoint = endpoint
        self.sent = 0
        self.dropped = 0
        self._packer = msgpack.Packer(use_bin_type=True)
        sock = (context or zmq.Context.instance()).socket(zmq.XPUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.XPUB_NODROP, 1)
        sock.setsockopt(zmq.SNDHWM, sndhwm)
        try:
            sock.connect(endpoint)
        except zmq.ZMQError as exc:
            sock.close(linger=0)
            raise BusError(endpoint, f"cannot connect publisher: {exc}") from exc
        self.socket = sock

    def publish(self, topic: str, payload: Any) -> bool:
        """Send `payload` under `topic`; False (and a counted drop) if it cannot go now."""
        try:
            self.socket.send_multipart((topic.encode(), self._packer.pack(payload)), zmq.NOBLOCK)
        except zmq.Again:
            self.dropped += 1
            return False
        self.sent += 1
        if not self.sent & DRAIN_EVERY_MASK:
            self.drain_subscriptions()
        return True

    def drain_subscriptions(self) -> int:
        """Discard queued (un)subscription notices: an XPUB hands them up, we need none.

        Called every DRAIN_EVERY_MASK + 1 sends, so subscriber churn cannot grow the queue.
        """
        drained = 0
        while True:
            try:
                self.socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                return drained
            drained += 1

    def close(self) -> None:
        self.socket.close(linger=0)


class Subscriber:
    """Connects to the proxy's XPUB side with prefix subscriptions; `.socket` is pollable."""

    __slots__ = ("dropped", "endpoint", "received", "socket")

    def __init__(self, endpoint: str, topics: Iterable[str] = ("",), *,
                 context: zmq.Context[Any] | None = None, rcvhwm: int = DEFAULT_HWM) -> None:
        self.endpoint = endpoint
        self.received = 0
        self.dropped = 0  # messages skipped: undecodable payload or wrong frame count
        sock = (context or zmq.Context.instance()).socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, rcvhwm)
        for topic in topics:
            sock.setsockopt(zmq.SUBSCRIBE, _prefix(topic))
        try:
            sock.connect(endpoint)
        except zmq.ZMQError as exc:
            sock.close(linger=0)
            raise BusError(endpoint, f"cannot connect subscriber: {exc}") from exc
        self.socket = sock

    def subscribe(self, topic: str) -> None:
        self.socket.setsockopt(zmq.SUBSCRIBE, _prefix(topic))

    def recv(self, timeout_ms: int = 0) -> tuple[str, Any] | None:
        """The next decodable (topic, payload), or None when none arrives within timeout_ms."""
        while True:
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                if timeout_ms <= 0 or not self.socket.poll(timeout_ms, zmq.POLLIN):
                    return None
                timeout_ms = 0  # one wait only; then take what is there
                continue
            message = _decode(frames)
            if message is None:
                self.dropped += 1
                continue
            self.received += 1
            return message

    def close(self) -> None:
        self.socket.close(linger=0)


def _prefix(topic: str) -> bytes:
    """`trading.positions.*` and `trading.positions.` both mean that prefix; "" means all."""
    return topic[:-1].encode() if topic.endswith("*") else topic.encode()


def _decode(frames: list[bytes]) -> tuple[str, Any] | None:
    if len(frames) != 2:
        return None
    try:
        return frames[0].decode(), msgpack.unpackb(frames[1], raw=False, strict_map_key=False)
    except (ValueError, TypeError, msgpack.UnpackException):  # TypeError: unhashable map key
        return None
