"""A host's CURVE key pair in its state directory, and CURVE set-up of the bridge sockets.

`nautilusctl keys generate` (nautilusd/ctl/commands/keys.py) writes `<state_dir>/curve/
host.key` and `host.key_secret` (both 0600, in a 0700 directory) in pyzmq's certificate
format; the bridges, the control endpoint and `nautilusctl --host` read them with
`zmq.auth.load_certificate`. No plaintext mode:
every socket set up here is CURVE, a missing key pair is an error naming the path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import zmq
import zmq.auth
from zmq.utils import z85

from engines.errors import EngineError

KEY_DIR: Final = "curve"
SECRET_FILE: Final = "host.key_secret"
PUBLIC_FILE: Final = "host.key"
Z85_KEY_CHARS: Final = 40


class KeyFileError(EngineError):
    """The host's key pair is missing or unreadable, or a peer key is malformed."""


def key_paths(state_dir: Path) -> tuple[Path, Path]:
    """(public, secret) key files of the host whose state directory is `state_dir`."""
    base = Path(state_dir) / KEY_DIR
    return base / PUBLIC_FILE, base / SECRET_FILE


def load_keypair(state_dir: Path) -> tuple[bytes, bytes]:
    """The host's (public, secret) Z85 keys, or KeyFileError naming the file and the fix."""
    _, secret_path = key_paths(state_dir)
    try:
        public, secret = zmq.auth.load_certificate(str(secret_path))
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"no CURVE key pair at {secret_path} ({exc}); run "
                        f"`nautilusctl keys generate --state-dir {state_dir}`") from None
    if secret is None:
        raise KeyFileError(f"{secret_path} holds no secret key")
    return public, secret


def check_public_key(key: str, where: str) -> bytes:
    """A peer's Z85 public key as bytes, or KeyFileError naming `where` and the value."""
    raw = key.encode("ascii", "replace")
    try:
        if len(raw) != Z85_KEY_CHARS:
            raise ValueError
        z85.decode(raw)
    except (ValueError, KeyError):
        raise KeyFileError(f"{where}: not a {Z85_KEY_CHARS}-character Z85 CURVE public key: "
                        f"{key!r}") from None
    return raw


def curve_server(sock: zmq.Socket[Any], secret: bytes, public: bytes, domain: str) -> None:
    """Make `sock` a CURVE server authenticated through ZAP `domain` (set before bind)."""
    sock.setsockopt(zmq.CURVE_SERVER, 1)
    sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
    sock.setsockopt(zmq.ZAP_DOMAIN, domain.encode())
    sock.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)  # no ZAP handler bound: refuse, never allow


def curve_client(sock: zmq.Socket[Any], secret: bytes, public: bytes,
                 server_public: bytes) -> None:
    """Make `sock` a CURVE client of the server whose public key is `server_public`."""
    sock.setsockopt(zmq.CURVE_SERVERKEY, server_public)
    sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
