"""Bus bridges: selected topic prefixes of this host's bus forwarded to a peer's bus, over
CURVE like the ring bridges (same keys, same ZAP admission, same heartbeats).

Loop prevention: the receiver marks what it publishes with `_via` (the hosts it came
through); a sender never forwards a message that carries `_via`, so a message crosses
exactly one link from the host it was published on, whatever the fleet's bridges form.
The bus is best effort: what cannot go now (link down, queue full) is dropped and counted.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Final

import msgpack
import zmq

from engines.base import Engine, Pollable
from engines.bridge import _wire as wire
from engines.bridge._link import ZAP_DOMAIN, bridge_socket, peer_of, writable
from engines.bridge.keys import check_public_key, curve_client, curve_server, load_keypair
from engines.bridge.zap import ZapHandler
from engines.params import ParamError, param, parse_params
from shm.status import W_CUSTOM0, W_DROPPED, W_RECORDS_IN, W_RECORDS_OUT

VIA: Final = "_via"
LINK_UP, LOOPS, DROPPED, REFUSED = range(W_CUSTOM0, W_CUSTOM0 + 4)
_BEAT: Final = wire.pack(wire.Kind.HEARTBEAT)


@dataclass(frozen=True, kw_only=True, slots=True)
class BusSenderParams:
    peer: str = ""  # required: the [[peers]] host whose BusReceiverEngine listens
    port: int = param(0, min=0, max=65535)
    topics: tuple[str, ...] = field(default=())  # prefixes, e.g. ["risk.alerts."]
    link_timeout_ms: int = param(1000, unit="ms", min=10)
    heartbeat_ms: int = param(100, unit="ms", min=1)


@dataclass(frozen=True, kw_only=True, slots=True)
class BusReceiverParams:
    peer: str = ""  # required: the [[peers]] host whose BusSenderEngine connects
    port: int = param(0, min=0, max=65535)
    bind: str = "0.0.0.0"
    link_timeout_ms: int = param(1000, unit="ms", min=10)
    heartbeat_ms: int = param(100, unit="ms", min=1)


class _BusLink(Engine):
    """What both ends share: the socket, its heartbeat and the link_up word."""

    counters = ("link_up", "loops_stopped", "dropped", "refused")
    heartbeat_ns = 100_000_000
    link_timeout_ns = 1_000_000_000

    def _open(self, link_timeout_ms: int, heartbeat_ms: int) -> None:
        self.zctx: zmq.Context[Any] = zmq.Context()
        self.sock = bridge_socket(self.zctx, link_timeout_ms)
        self.heartbeat_ns, self.link_timeout_ns = heartbeat_ms * 1_000_000, \
            link_timeout_ms * 1_000_000
        self.heard_ns = self.beat_ns = 0
        self.words = self.ctx.status.words

    def _tick(self, now: int) -> None:
        self.words[LINK_UP] = 1 if now - self.heard_ns < self.link_timeout_ns else 0
        if now - self.beat_ns >= self.heartbeat_ns:
            self.beat_ns = now
            with contextlib.suppress(zmq.Again):
                self.sock.send(_BEAT, zmq.NOBLOCK)

    def next_wakeup_s(self) -> float | None:
        return self.heartbeat_ns * 1e-9

    def on_stop(self) -> None:
        self.sock.close(linger=0)
        self.zctx.term()


class BusSenderEngine(_BusLink):
    """Subscribes to `topics` on this host's bus and forwards them to the peer."""

    params_spec = BusSenderParams

    def on_start(self) -> None:
        ctx = self.ctx
        p = parse_params(BusSenderParams, ctx.params, f"engines.{ctx.name}.params")
        if not p.topics:
            raise ParamError(f"engines.{ctx.name}.params.topics: required: the topic "
                             f"prefixes to forward, e.g. ['risk.alerts.']")
        peer = peer_of(ctx, p.peer, p.port)
        public, secret = load_keypair(ctx.state_dir)
        self._open(p.link_timeout_ms, p.heartbeat_ms)
        curve_client(self.sock, secret, public,
                     check_public_key(peer.public_key, f"[[peers]] {peer.name}.public_key"))
        self.sock.connect(f"tcp://{peer.address}:{p.port}")
        self.sub = ctx.subscriber(list(p.topics))

    def wait_handles(self) -> list[Pollable]:
        return [self.sub.socket, self.sock]

    def poll(self) -> int:
        now = time.monotonic_ns()
        while True:
            try:
                self.sock.recv(zmq.NOBLOCK)
                self.heard_ns = now
            except zmq.Again:
                break
        done = 0
        while done < 256:
            try:
                topic, payload = self.sub.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            done += 1
            if _came_through_a_bridge(payload):
                self.words[LOOPS] += 1
                continue
            if not self._forward(topic, payload):
                self.words[DROPPED] += 1
                self.words[W_DROPPED] += 1
        self.words[W_RECORDS_IN] += done
        self._tick(now)
        return done

    def _forward(self, topic: bytes, payload: bytes) -> bool:
        if not writable(self.sock):
            return False
        try:
            self.sock.send_multipart((wire.pack(wire.Kind.DATA), topic, payload), zmq.NOBLOCK)
        except zmq.Again:
            return False
        self.words[W_RECORDS_OUT] += 1
        return True


class BusReceiverEngine(_BusLink):
    """Publishes what the peer's BusSenderEngine forwards on this host's bus, marked `_via`."""

    params_spec = BusReceiverParams

    def on_start(self) -> None:
        ctx = self.ctx
        p = parse_params(BusReceiverParams, ctx.params, f"engines.{ctx.name}.params")
        self.peer = peer_of(ctx, p.peer, p.port)
        public, secret = load_keypair(ctx.state_dir)
        self._open(p.link_timeout_ms, p.heartbeat_ms)
        self.zap = ZapHandler(self.zctx, [check_public_key(
            self.peer.public_key, f"[[peers]] {self.peer.name}.public_key")])
        curve_server(self.sock, secret, public, ZAP_DOMAIN)
        self.sock.bind(f"tcp://{p.bind}:{p.port}")
        self.pub = ctx.publisher()

    def wait_handles(self) -> list[Pollable]:
        return [self.sock, self.zap.socket]

    def poll(self) -> int:
        now = time.monotonic_ns()
        if self.zap.handle():
            self.words[REFUSED] = self.zap.refused
        done = 0
        while done < 256:
            try:
                frames = self.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            done += 1
            self.heard_ns = now
            if len(frames) == 3:
                self._publish(frames[1], frames[2])
        self._tick(now)
        return done

    def _publish(self, topic: bytes, payload: bytes) -> None:
        try:
            message = msgpack.unpackb(payload, raw=False, strict_map_key=False)
            name = topic.decode()
        except (ValueError, TypeError, msgpack.UnpackException):
            self.words[W_DROPPED] += 1
            return
        if not isinstance(message, dict):
            message = {"value": message}
        message[VIA] = [self.peer.name, *([self.ctx.host] if self.ctx.host else [])]
        if self.pub.publish(name, message):
            self.words[W_RECORDS_OUT] += 1
        else:
            self.words[DROPPED] += 1

    def on_stop(self) -> None:
        self.sock.close(linger=0)
        self.zap.close()
        self.zctx.term()


def _came_through_a_bridge(payload: bytes) -> bool:
    """Whether a bus payload carries `_via` (published here by a bus receiver)."""
    if VIA.encode() not in payload:  # cheap: most payloads never mention it
        return False
    try:
        message = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        return False
    return isinstance(message, dict) and VIA in message
