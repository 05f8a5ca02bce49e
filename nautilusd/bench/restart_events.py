"""Timing one kill from the daemon's lifecycle events, matched to the processes they are about.

A kill is timed from just before `kill()` to the `exited` event of that pid, the `spawned`
event of a new pid (a later generation) and the `ready` event of that same new pid and
generation. Anything else on the feed (events queued from an earlier kill or the first
start, another engine's) is skipped, never taken for this kill's answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import msgpack
import zmq

# The steps of one restart, in order, as the daemon names its events.
STEPS = ("exited", "restarting", "spawned", "ready")


@dataclass(frozen=True, slots=True)
class Event:
    """One lifecycle event: when it arrived here, what it is, whom it is about."""

    at: float  # time.monotonic() of its arrival
    event: str
    pid: int
    generation: int
    mono_ns: int = 0  # the daemon's CLOCK_MONOTONIC stamp when it emitted it (0: none)


class EventFeed(Protocol):
    """Where events come from: `next` waits up to timeout_s, `drain` drops what is queued."""

    def next(self, timeout_s: float) -> Event | None: ...
    def drain(self) -> int: ...


@dataclass(frozen=True, slots=True)
class KillTiming:
    """One kill: arrival of each step's event after t0 (ms), the daemon's own stamps after
    t0 (ms, None when it sent none) and the new process."""

    arrival_ms: dict[str, float]
    stamped_ms: dict[str, float | None]
    new_pid: int
    new_generation: int


class StaleFeedError(RuntimeError):
    """The events never named the process this kill was about within the time-out."""


def time_kill(feed: EventFeed, old_pid: int, old_generation: int, t0: float,
              timeout_s: float = 10.0) -> KillTiming:
    """Match the events of the restart that follows killing `old_pid` at `t0`."""
    found: dict[str, Event] = {}
    new_pid = new_generation = 0
    t0_ns = int(t0 * 1e9)  # the daemon stamps CLOCK_MONOTONIC too
    deadline = time.monotonic() + timeout_s
    while "ready" not in found:
        left = deadline - time.monotonic()
        ev = feed.next(left) if left > 0 else None
        if ev is None:
            raise StaleFeedError(f"kill of pid {old_pid}: only {sorted(found)} seen within "
                                 f"{timeout_s} s")
        if ev.at < t0 or (ev.mono_ns and ev.mono_ns < t0_ns):
            continue  # emitted before this kill (the daemon's stamp says so even when the
            # event is only read now, after the kill)
        if ev.event in ("exited", "restarting") and ev.pid in (old_pid, 0) and (
                ev.generation == old_generation) and ev.event not in found and (
                ev.event == "exited" or "exited" in found):  # restarting: pid already 0
            found[ev.event] = ev
        elif ev.event == "spawned" and "exited" in found and ev.pid != old_pid and (
                ev.generation > old_generation):
            found["spawned"], new_pid, new_generation = ev, ev.pid, ev.generation
        elif ev.event == "ready" and new_pid and ev.pid == new_pid and (
                ev.generation == new_generation):
            found["ready"] = ev
    return KillTiming(
        arrival_ms={k: (e.at - t0) * 1e3 for k, e in found.items()},
        stamped_ms={k: (e.mono_ns - t0_ns) / 1e6 if e.mono_ns else None
                    for k, e in found.items()},
        new_pid=new_pid, new_generation=new_generation)


class ZmqFeed:
    """Lifecycle events of one engine from the daemon's bus (SUB on system.engine.<name>.)."""

    def __init__(self, endpoint: str, engine: str,
                 context: zmq.Context[Any] | None = None) -> None:
        self.prefix = f"system.engine.{engine}.".encode()
        self.sock: zmq.Socket[bytes] = (context or zmq.Context.instance()).socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SUBSCRIBE, self.prefix)
        self.sock.connect(endpoint)

    def next(self, timeout_s: float) -> Event | None:
        if not self.sock.poll(max(1, int(timeout_s * 1000))):
            return None
        topic, body = self.sock.recv_multipart()[:2]
        at = time.monotonic()
        fields = msgpack.unpackb(body)
        return Event(at, topic[len(self.prefix):].decode(), int(fields.get("pid") or 0),
                     int(fields.get("generation") or 0), int(fields.get("mono_ns") or 0))

    def drain(self) -> int:
        n = 0
        while self.sock.poll(0):
            self.sock.recv_multipart()
            n += 1
        return n

    def close(self) -> None:
        self.sock.close(linger=0)
