"""What both ends of a bridge share: the peer they name, their one ring, their socket options.

A bridge socket is a CURVE DEALER with ZeroMQ heartbeats: a link that stops answering is
dropped within `link_timeout_ms` and ZeroMQ reconnects by itself; nothing here is plaintext.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, TypeVar

import zmq

from engines.base import EngineContext
from engines.params import ParamError
from engines.spec import PeerConfig
from shm import RingReader, RingWriter
from shm.layout import RECORDS

ZAP_DOMAIN: Final = "nautilusd.bridge"
SEND_HWM: Final = 64  # batches queued towards the link before back-pressure
RECV_HWM: Final = 256
End = TypeVar("End", RingReader, RingWriter)


def peer_of(ctx: EngineContext, peer: str, port: int) -> PeerConfig:
    """The [[peers]] entry named `peer`, or a ParamError naming what is wrong."""
    where = f"engines.{ctx.config.name}.params"
    if not peer:
        raise ParamError(f"{where}.peer: required: the [[peers]] name of the far host")
    if not port:
        raise ParamError(f"{where}.port: required: the TCP port the receiver binds")
    if peer == ctx.host:
        raise ParamError(f"{where}.peer: {peer!r} is this host ([fleet].host): a bridge to "
                         f"itself")
    found = ctx.peers.get(peer)
    if found is None:
        raise ParamError(f"{where}.peer: no [[peers]] entry named {peer!r}; known: "
                         f"{sorted(ctx.peers)}")
    return found


def bridged_ring(engine: str, rings: Mapping[str, object], kind: type[End], record: str,
                 role: str) -> tuple[str, End]:
    """The one ring a bridge end `role`s ("a ring sender reads"): a shm ring, and of the
    layout `record` names when it names one; else a ParamError naming what was found."""
    if len(rings) != 1:
        raise ParamError(f"engine {engine}: {role} exactly one ring, has {sorted(rings)}")
    name, ring = next(iter(rings.items()))
    if not isinstance(ring, kind):
        raise ParamError(f"engine {engine}: ring {name!r} is not a shm ring")
    if record and RECORDS[record] != ring.dtype:
        raise ParamError(f"engines.{engine}.params.record: {record!r} is not the layout of "
                         f"ring {name!r}")
    return name, ring


def bridge_socket(context: zmq.Context[Any], link_timeout_ms: int) -> zmq.Socket[Any]:
    """A DEALER with the bridge's options (CURVE is set by the caller, before bind/connect)."""
    sock: zmq.Socket[Any] = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, SEND_HWM)
    sock.setsockopt(zmq.RCVHWM, RECV_HWM)
    sock.setsockopt(zmq.IMMEDIATE, 1)  # queue nothing for a link that is not up
    heartbeat_ms = max(link_timeout_ms // 4, 10)
    sock.setsockopt(zmq.HEARTBEAT_IVL, heartbeat_ms)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, link_timeout_ms)
    sock.setsockopt(zmq.HEARTBEAT_TTL, link_timeout_ms)
    sock.setsockopt(zmq.RECONNECT_IVL, 100)
    sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
    sock.setsockopt(zmq.HANDSHAKE_IVL, max(link_timeout_ms, 1000))
    return sock


def writable(sock: zmq.Socket[Any]) -> bool:
    return bool(int(sock.getsockopt(zmq.EVENTS)) & zmq.POLLOUT)
