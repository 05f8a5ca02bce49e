"""nautilusctl --host NAME: the control client of a peer host, over its CURVE control endpoint.

The local daemon says who the peers are and where this host's state directory is (`fleet`);
the client authenticates with this host's key pair from there (`nautilusctl keys generate`)
and checks the peer's server key from [[peers]], so a wrong peer cannot answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import zmq
import zmq.auth

from nautilusd.control.commands import UsageError
from nautilusd.ctl.client import DAEMON, ControlClient, RequestClient

KEY_FILE = Path("curve") / "host.key_secret"  # as engines.bridge.keys writes and reads it


class CurveControlClient(ControlClient):
    """A control client whose DEALER is a CURVE client of the peer's endpoint."""

    def __init__(self, endpoint: str, server_key: bytes, keypair: tuple[bytes, bytes],
                 timeout_ms: int) -> None:
        super().__init__(endpoint, timeout_ms=timeout_ms)
        self._server_key, self._keypair = server_key, keypair

    def _connect(self) -> zmq.Socket[Any]:
        if self._socket is None:
            sock = self._context.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            public, secret = self._keypair
            sock.setsockopt(zmq.CURVE_SERVERKEY, self._server_key)
            sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
            sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
            sock.connect(self.endpoint)
            self._socket = sock
        return self._socket


def fleet_info(local: RequestClient) -> dict[str, Any]:
    info = local.request("fleet")
    if not isinstance(info, dict):
        raise UsageError("the local nautilusd answered `fleet` with no document")
    return info


def peer_client(info: dict[str, Any], host: str, timeout_ms: int) -> CurveControlClient:
    """The client of peer `host` named in the local daemon's `fleet` document."""
    peers = {p["name"]: p for p in info.get("peers", [])}
    peer = peers.get(host)
    if peer is None:
        raise UsageError(f"--host {host}: no [[peers]] entry named {host!r} in the local "
                         f"config; known: {', '.join(sorted(peers)) or 'none'}")
    key_path = Path(info.get("state_dir") or ".") / KEY_FILE
    try:
        public, secret = zmq.auth.load_certificate(str(key_path))
    except (OSError, ValueError) as exc:
        raise UsageError(f"--host {host}: this host's key pair {key_path}: {exc}") from None
    if secret is None:
        raise UsageError(f"--host {host}: {key_path} holds no secret key")
    endpoint = f"tcp://{peer['address']}:{peer['control_port']}"
    return CurveControlClient(endpoint, str(peer["public_key"]).encode(), (public, secret),
                              timeout_ms)


__all__ = ["DAEMON", "CurveControlClient", "fleet_info", "peer_client"]
