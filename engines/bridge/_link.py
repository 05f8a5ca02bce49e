"""What both ends of a bridge share: their params, the peer they name, their socket options.

A bridge socket is a CURVE DEALER with ZeroMQ heartbeats: a link that stops answering is
dropped within `link_timeout_ms` and ZeroMQ reconnects by itself; nothing here is plaintext.
"""

from __future__ import annotations

from typing import Any, Final

import zmq

from engines.base import EngineContext
from engines.params import ParamError
from engines.spec import PeerConfig

ZAP_DOMAIN: Final = "nautilusd.bridge"
SEND_HWM: Final = 64  # batches queued towards the link before back-pressure
RECV_HWM: Final = 256


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
