"""The control socket itself: a ROUTER with the options that keep it safe, bound 0600 at an
ipc:// endpoint, and the peer credentials each message carries.

Shared by the control server and by the early control of a re-executed image
(nautilusd.control.early), which must open the very same socket before the rest of the
daemon is imported: stdlib, zmq and the wire protocol only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import zmq

from nautilusd.control.protocol import MAX_REQUEST_BYTES
from nautilusd.listeners import Listeners

# MAXMSGSIZE bounds each frame only: the whole message (identity, REQ's empty delimiter, the
# body) is bounded here too, or a peer's many-frame request is kept and echoed back whole.
MAX_FRAMES = 3
MAX_MESSAGE_BYTES = MAX_REQUEST_BYTES + 1024  # the body and a ROUTER identity (<= 255 bytes)
SEND_HWM = 256  # queued replies per peer; a client that never reads loses replies, not us
_PEER_CRED = re.compile(r":(\d+):(\d+):(\d+)$")


def router_socket(context: zmq.Context[Any], allowed_uids: Iterable[int]) -> zmq.Socket[Any]:
    """A ROUTER set up as the control socket, not bound yet."""
    sock: zmq.Socket[Any] = context.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST_BYTES)  # oversize peer: disconnected
    # Mandatory routing + NOBLOCK sends: a vanished peer (EHOSTUNREACH) or a full one
    # (EAGAIN) raises at once, so the loss is counted instead of silently dropped.
    sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
    sock.setsockopt(zmq.SNDHWM, SEND_HWM)
    sock.setsockopt(zmq.SNDTIMEO, 0)
    for uid in sorted(allowed_uids):
        sock.setsockopt(zmq.IPC_FILTER_UID, uid)
    return sock


def bind_private(sock: zmq.Socket[Any], endpoint: str, listeners: Listeners) -> None:
    """Bind `sock` at `endpoint` through `listeners`; an ipc:// socket file is born 0600
    (umask around the bind, no window before the chmod). Closes `sock` when it fails."""
    old_umask = os.umask(0o177)
    try:
        listeners.bind(sock, endpoint)
    except (zmq.ZMQError, OSError):
        sock.close(linger=0)
        raise
    finally:
        os.umask(old_umask)
    path = ipc_path(endpoint)
    if path is not None:
        os.chmod(path, 0o600)


def too_large(frames: list[zmq.Frame]) -> bool:
    return len(frames) > MAX_FRAMES or sum(len(f) for f in frames) > MAX_MESSAGE_BYTES


def peer_uid(frame: zmq.Frame) -> int | None:
    """The peer's uid from libzmq's SO_PEERCRED metadata, None where it is not provided."""
    try:
        address = frame.get("Peer-Address")
    except zmq.ZMQError:
        return None
    match = _PEER_CRED.search(address) if isinstance(address, str) else None
    return int(match.group(1)) if match else None


def ipc_path(endpoint: str) -> Path | None:
    return Path(endpoint[len("ipc://"):]) if endpoint.startswith("ipc://") else None
