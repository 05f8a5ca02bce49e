"""The request/reply client of nautilusctl: one DEALER that sends a request and awaits its reply.

The control socket and an engine's service socket share one envelope: request
`{<verb key>: str, "args": map, "id": int}`, reply `{"ok", "result" | "error", "id"}`; only
the verb's key differs ("cmd" or "method"), so one client, told its `Peer`, serves both.
`request(verb, **args)` returns the result or raises a typed error: the peer is not
running, it did not answer in time, we may not talk to it, or it answered an error.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import zmq

from nautilusd.control.protocol import decode_reply, pack
from nautilusd.errors import ControlError, NautilusdError

DEFAULT_TIMEOUT_MS = 5_000
RECONNECT_IVL_MS = 5  # a daemon that re-executes itself is back within milliseconds
# The daemon's read-only commands (Command.read_only): asked again when the connection
# drops before the reply (nautilusd re-executing itself closes it), since asking twice is
# harmless. Any other request is never repeated: it may have been carried out.
RESENDABLE = frozenset({"status", "ping", "info", "health", "rings"})


@dataclass(frozen=True, slots=True)
class Peer:
    """Who answers at an endpoint: its name and its socket's in messages, its verb's key."""

    name: str
    socket: str
    verb_key: str


DAEMON = Peer("nautilusd", "control socket", "cmd")


def engine_service(engine: str) -> Peer:
    """The peer at an engine instance's service socket (engines.service.ServiceServer)."""
    return Peer(f"engine {engine!r}", "service socket", "method")


class DaemonNotRunning(NautilusdError):
    """No socket at the endpoint, or nothing listening on it (the peer is not running)."""

    def __init__(self, endpoint: str, reason: str | None = None, peer: Peer = DAEMON) -> None:
        self.endpoint, self.peer = endpoint, peer
        super().__init__(f"{peer.name} is not running ({reason or f'no {peer.socket}'} "
                         f"at {_where(endpoint)})")


class PermissionDenied(NautilusdError):
    """The socket exists but this user may not use it."""

    def __init__(self, endpoint: str, reason: str, peer: Peer = DAEMON) -> None:
        self.endpoint, self.peer = endpoint, peer
        super().__init__(f"permission denied for {peer.socket} {_where(endpoint)}: {reason}")


class RequestTimeout(NautilusdError):
    """The peer did not reply within the time-out."""

    def __init__(self, endpoint: str, cmd: str, timeout_ms: int) -> None:
        self.endpoint, self.cmd, self.timeout_ms = endpoint, cmd, timeout_ms
        super().__init__(f"no reply to {cmd!r} from {_where(endpoint)} within {timeout_ms} ms")


class RemoteError(ControlError):
    """The peer answered with an error reply; `code` is the wire code."""


class RequestClient:
    """A request/reply client of one peer; cheap to create, close it (or use `with`)."""

    def __init__(self, endpoint: str, peer: Peer, timeout_ms: int = DEFAULT_TIMEOUT_MS, *,
                 context: zmq.Context[Any] | None = None,
                 resendable: frozenset[str] = frozenset()) -> None:
        self.endpoint = endpoint
        self.peer = peer
        self.timeout_ms = timeout_ms
        self.resendable = resendable
        self.resent = 0  # requests asked again after a dropped connection
        self._context = context or zmq.Context.instance()
        self._socket: zmq.Socket[Any] | None = None
        self._monitor: zmq.Socket[Any] | None = None  # the socket's disconnect events
        self._ids = itertools.count(1)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._socket is not None:
            if self._monitor is not None:
                self._socket.disable_monitor()
                self._monitor.close(linger=0)
                self._monitor = None
            self._socket.close(linger=0)
            self._socket = None

    def request(self, verb: str, timeout_ms: int | None = None, **args: Any) -> Any:
        """Send `verb` with `args`; return the result or raise a typed error."""
        timeout_ms = self.timeout_ms if timeout_ms is None else timeout_ms
        sock = self._connect()
        request_id = next(self._ids)
        message = pack({self.peer.verb_key: verb, "args": args, "id": request_id})
        try:
            sock.send(message, zmq.NOBLOCK)
        except zmq.Again:
            raise RequestTimeout(self.endpoint, verb, timeout_ms) from None
        deadline = time.monotonic() + timeout_ms / 1000
        monitor = self._monitor if verb in self.resendable else None
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0 or not self._wait(sock, monitor, left_ms):
                self.close()  # a late reply must not be mistaken for the next request's
                raise RequestTimeout(self.endpoint, verb, timeout_ms)
            if monitor is not None and monitor.poll(0):
                monitor.recv_multipart()
                with contextlib.suppress(zmq.Again):  # queued until the socket reconnects
                    sock.send(message, zmq.NOBLOCK)
                    self.resent += 1
                continue
            reply = decode_reply(sock.recv())
            if reply.get("id") not in (request_id, None):
                continue  # a stale reply to an earlier request that timed out
            if reply["ok"]:
                return reply.get("result")
            error = reply["error"]
            raise RemoteError(error["code"], str(error.get("message", "")))

    @staticmethod
    def _wait(sock: zmq.Socket[Any], monitor: zmq.Socket[Any] | None, timeout_ms: int) -> bool:
        """Wait for a reply on `sock` or an event on `monitor`; False on time-out."""
        if monitor is None:
            return bool(sock.poll(timeout_ms, zmq.POLLIN))
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        return bool(poller.poll(timeout_ms))

    def _connect(self) -> zmq.Socket[Any]:
        if self._socket is None:
            _check_reachable(self.endpoint, self.peer)
            sock = self._context.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            if self.resendable:
                sock.setsockopt(zmq.RECONNECT_IVL, RECONNECT_IVL_MS)
                self._monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
            sock.connect(self.endpoint)
            self._socket = sock
        return self._socket


class ControlClient(RequestClient):
    """The request/reply client of nautilusd's control socket."""

    def __init__(self, endpoint: str, timeout_ms: int = DEFAULT_TIMEOUT_MS, *,
                 context: zmq.Context[Any] | None = None) -> None:
        super().__init__(endpoint, DAEMON, timeout_ms, context=context, resendable=RESENDABLE)


def _check_reachable(endpoint: str, peer: Peer) -> None:
    """Turn the common failures into clear errors before ZeroMQ's silent reconnect loop."""
    if not endpoint.startswith("ipc://"):
        return
    path = Path(endpoint[len("ipc://"):])
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DaemonNotRunning(endpoint, peer=peer) from None
    except PermissionError:
        raise PermissionDenied(endpoint, f"{path.parent} is not accessible to uid "
                                         f"{os.geteuid()}", peer) from None
    if os.geteuid() not in (0, st.st_uid):
        raise PermissionDenied(endpoint, f"it belongs to uid {st.st_uid}, you are uid "
                                         f"{os.geteuid()}: {peer.name} refuses other users",
                               peer)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:  # ZeroMQ would retry a refused connect forever: ask the kernel once, up front
        probe.connect(str(path))
    except ConnectionRefusedError:
        raise DaemonNotRunning(endpoint, f"stale {peer.socket}, nothing listening",
                               peer) from None
    except PermissionError:
        raise PermissionDenied(endpoint, f"no write access for uid {os.geteuid()}",
                               peer) from None
    finally:
        probe.close()


def _where(endpoint: str) -> str:
    return endpoint[len("ipc://"):] if endpoint.startswith("ipc://") else endpoint
