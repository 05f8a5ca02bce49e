"""A ZAP handler (ZeroMQ's RFC 27) that admits CURVE peers by public key and counts refusals.

Bound at inproc://zeromq.zap.01 of one zmq context, polled in the owner's own loop (no
thread): a CURVE server socket of that context asks it about every new connection.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import zmq
from zmq.utils import z85

ZAP_ENDPOINT: Final = "inproc://zeromq.zap.01"


class ZapHandler:
    """Allow the CURVE public keys in `allowed` (Z85), refuse everything else, count both."""

    def __init__(self, context: zmq.Context[Any], allowed: Iterable[bytes]) -> None:
        self.allowed = {z85.decode(k): k for k in allowed}
        self.accepted = 0
        self.refused = 0
        self.last_refused_key = ""
        self.last_refused_address = ""
        self.socket: zmq.Socket[Any] = context.socket(zmq.REP)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind(ZAP_ENDPOINT)

    def handle(self) -> int:
        """Answer every queued request; returns how many."""
        served = 0
        while True:
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return served
            self.socket.send_multipart(self._answer(frames))
            served += 1

    def _answer(self, frames: list[bytes]) -> list[bytes]:
        if len(frames) < 6:
            self.refused += 1
            return [b"1.0", frames[1] if len(frames) > 1 else b"", b"400", b"bad request",
                    b"", b""]
        version, request_id, _domain, address, _identity, mechanism = frames[:6]
        key = frames[6] if len(frames) > 6 else b""
        if mechanism == b"CURVE" and key in self.allowed:
            self.accepted += 1
            return [version, request_id, b"200", b"OK", self.allowed[key], b""]
        self.refused += 1
        self.last_refused_key = z85.encode(key).decode() if len(key) == 32 else ""
        self.last_refused_address = address.decode(errors="replace")
        return [version, request_id, b"400", b"unknown key", b"", b""]

    def close(self) -> None:
        self.socket.close(linger=0)
