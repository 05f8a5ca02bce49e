"""The gateway's fan-out: per-client topic filters, latest values, conflation for slow clients.

Bus messages arrive as JSON parts (one encoding per message); every flush the hub builds one
frame per distinct filter set and hands it to every fast client of that set in one call. A
client whose socket buffer is above `slow_bytes` gets no frame: it keeps the latest part per
topic (conflated) and receives those once its buffer drains; above `drop_bytes`, or slow for
longer than `drop_after_s`, it is dropped. Nothing here waits on a client.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

EVENT_PREFIX: Final = "system.engine."
STATUS_TOPIC: Final = "system.status"


@dataclass(frozen=True, kw_only=True, slots=True)
class HubLimits:
    max_clients: int = 2_000
    max_subscriptions: int = 32  # topic prefixes per client
    max_topic_chars: int = 128
    slow_bytes: int = 256 * 1024  # buffered above this: conflate
    drop_bytes: int = 4 * 1024 * 1024  # buffered above this: drop
    drop_after_s: float = 10.0  # slow for longer than this: drop
    recent_events: int = 100  # lifecycle events kept for a snapshot


@dataclass(eq=False, slots=True)
class Client:
    conn: Hashable
    prefixes: tuple[str, ...]
    slow_since: float | None = None
    conflated: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class HubCounters:
    received: int = 0  # bus messages
    delivered: int = 0  # messages written to clients (one per client)
    conflated: int = 0  # messages replaced by a later value for a slow client
    dropped_clients: int = 0
    refused_clients: int = 0
    bad_requests: int = 0


class SubscriptionError(ValueError):
    """A client's subscribe request breaks a limit; the message names the value."""


def message_part(topic: str, payload: Any, received_ns: int) -> str:
    """One message as a JSON object: topic, the gateway's receive time and the payload."""
    return json.dumps({"topic": topic, "gw_ns": received_ns, "data": payload},
                      separators=(",", ":"), default=str)


def batch_frame(parts: Iterable[str]) -> str:
    return '{"type":"batch","messages":[' + ",".join(parts) + "]}"


class Hub:
    """Clients, their filters and the latest value per topic; `flush` writes the frames.

    `send(conns, frame)` writes one frame to many connections; `buffered(conn)` is a
    connection's unsent bytes; `drop(conn, why)` closes it. All three must not block.
    """

    def __init__(self, limits: HubLimits, send: Callable[[list[Any], str], None],
                 buffered: Callable[[Any], int], drop: Callable[[Any, str], None],
                 default_prefixes: tuple[str, ...]) -> None:
        self.limits, self.send, self.buffered, self.drop = limits, send, buffered, drop
        self.default_prefixes = default_prefixes
        self.clients: dict[Hashable, Client] = {}
        self.latest: dict[str, str] = {}
        self.events: collections.deque[str] = collections.deque(maxlen=limits.recent_events)
        self.pending: list[tuple[str, str]] = []
        self.counters = HubCounters()

    def add(self, conn: Hashable) -> Client | None:
        """A new client on the default topics, or None (counted) when the hub is full."""
        if len(self.clients) >= self.limits.max_clients:
            self.counters.refused_clients += 1
            return None
        client = self.clients[conn] = Client(conn, self.default_prefixes)
        return client

    def remove(self, conn: Hashable) -> None:
        self.clients.pop(conn, None)

    def full(self) -> bool:
        return len(self.clients) >= self.limits.max_clients

    def on_bus(self, topic: str, part: str) -> None:
        self.counters.received += 1
        self.latest[topic] = part
        if topic.startswith(EVENT_PREFIX):
            self.events.append(part)
        self.pending.append((topic, part))

    def snapshot(self, client: Client) -> str:
        """Latest value of every topic the client follows, and the recent lifecycle events."""
        latest = [p for t, p in self.latest.items() if t.startswith(client.prefixes)
                  and not t.startswith(EVENT_PREFIX)]
        events = list(self.events) if any(
            EVENT_PREFIX.startswith(p) or p.startswith(EVENT_PREFIX) for p in client.prefixes
        ) else []
        return ('{"type":"snapshot","latest":[' + ",".join(latest) + '],"events":['
                + ",".join(events) + "]}")

    def subscribe(self, client: Client, topics: Any, *, add: bool) -> tuple[str, ...]:
        """Add (or remove) topic prefixes; SubscriptionError names a bad one."""
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            raise SubscriptionError(f"topics must be a list of strings, got {topics!r}")
        for topic in topics:
            if len(topic) > self.limits.max_topic_chars:
                raise SubscriptionError(f"topic {topic[:40]!r}... is over "
                                        f"{self.limits.max_topic_chars} characters")
        kept = [p for p in client.prefixes if p not in topics]
        wanted = tuple(dict.fromkeys([*kept, *topics])) if add else tuple(kept)
        if len(wanted) > self.limits.max_subscriptions:
            raise SubscriptionError(f"{len(wanted)} subscriptions, the limit is "
                                    f"{self.limits.max_subscriptions}")
        client.prefixes = wanted
        return wanted

    def flush(self, now_s: float) -> int:
        """Write what arrived since the last flush; returns messages delivered."""
        pending, self.pending = self.pending, []
        groups: dict[tuple[str, ...], list[Client]] = {}
        for client in list(self.clients.values()):
            groups.setdefault(client.prefixes, []).append(client)
        before = self.counters.delivered
        for prefixes, clients in groups.items():
            parts = [(t, p) for t, p in pending if t.startswith(prefixes)] if prefixes else []
            self._flush_group(parts, clients, now_s)
        return self.counters.delivered - before

    def _flush_group(self, parts: list[tuple[str, str]], clients: list[Client],
                     now_s: float) -> None:
        fast: list[Any] = []
        for client in clients:
            if self._fast(client, parts, now_s):
                fast.append(client.conn)
        if fast and parts:
            self.send(fast, batch_frame(p for _, p in parts))
            self.counters.delivered += len(parts) * len(fast)

    def _fast(self, client: Client, parts: list[tuple[str, str]], now_s: float) -> bool:
        """True when the client takes this flush's frame; else conflate, drain or drop."""
        buffered, limits = self.buffered(client.conn), self.limits
        slow_for = 0.0 if client.slow_since is None else now_s - client.slow_since
        if buffered > limits.drop_bytes or slow_for > limits.drop_after_s:
            self.counters.dropped_clients += 1
            self.remove(client.conn)
            self.drop(client.conn, f"slow client: {buffered} bytes unsent for {slow_for:.1f} s")
            return False
        if buffered > limits.slow_bytes:
            if client.slow_since is None:
                client.slow_since = now_s
            for topic, part in parts:
                self.counters.conflated += topic in client.conflated
                client.conflated[topic] = part
            return False
        client.slow_since = None
        if not client.conflated:
            return True
        client.conflated.update(parts)  # the latest value of each topic, in one frame
        values, client.conflated = list(client.conflated.values()), {}
        self.send([client.conn], batch_frame(values))
        self.counters.delivered += len(values)
        return False
