"""The control socket of a re-executed nautilusd while the new image is still starting: a
thread answers `status` from the snapshot the earlier image handed over (and `ping`) and
keeps every other request, in arrival order, for the control server that takes it over.

Started first thing after the handover is read (stdlib, zmq and the wire protocol only), so
a client polling `status` across `nautilusctl reexec` is answered within the interpreter's
start, not the whole daemon's. The snapshot says what it is: `daemon.resuming` is true and
`daemon.snapshot_age_ms` how old it is. Once any request is left for the server, every later
one is too (a `status` never overtakes a command still waiting). The thread runs only until
`take_over()`: from then on the daemon's single loop owns the socket.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

import zmq

from nautilusd.control.endpoint import bind_private, peer_uid, router_socket, too_large
from nautilusd.control.protocol import ErrorCode, decode_request, encode_error, encode_ok
from nautilusd.errors import ControlError
from nautilusd.handover import HandoverError, take_handover
from nautilusd.listeners import Listeners

EARLY_COMMANDS = frozenset({"status", "ping"})  # answered here, argument-free only


class EarlyControl:
    """Serves `endpoint` on a thread from `snapshot` (the `status` result the earlier image
    handed over, taken at `taken_at` on the monotonic clock) until `take_over()`."""

    def __init__(self, endpoint: str, listeners: Listeners, snapshot: Mapping[str, Any],
                 taken_at: float, reexecs: int, context: zmq.Context[Any] | None = None,
                 ) -> None:
        self.endpoint = endpoint
        self.allowed_uids = frozenset({os.geteuid(), 0})
        self.answered = 0
        self.first_reply_ns = 0  # monotonic, of the first snapshot reply sent
        self.reply_drops = 0
        self.left: list[list[zmq.Frame]] = []  # for the server, in arrival order
        self._snapshot = dict(snapshot)
        self._daemon = {**self._snapshot.get("daemon", {}), "reexecs": reexecs,
                        "resuming": True, "start_phases_ms": {},  # not the earlier image's
                        "start_phases_cpu_ms": {}}
        self._taken_at = taken_at
        self.listeners = listeners
        self.socket = router_socket(context or zmq.Context.instance(), self.allowed_uids)
        bind_private(self.socket, endpoint, listeners)
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="nautilusd-early-control")
        self._thread.start()

    def take_over(self) -> tuple[zmq.Socket[Any], list[list[zmq.Frame]]]:
        """Stop the thread; the socket (now the caller's alone) and the requests left for it.
        Requests still queued in the socket stay there, behind those."""
        if self._thread.is_alive():
            os.write(self._wake_w, b"x")
            self._thread.join()  # also the memory barrier that hands the socket over
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        return self.socket, self.left

    def refuse(self, reason: str) -> None:
        """Stop and close without a server to hand over to (the handover is refused and
        nautilusd starts afresh): every request left is answered UNAVAILABLE with `reason`."""
        sock, left = self.take_over()
        for frames in left:
            if len(frames) >= 2 and not too_large(frames):
                self._send([f.bytes for f in frames[:-1]], encode_error(
                    None, ErrorCode.UNAVAILABLE, f"nautilusd restarts afresh: {reason}"))
        self.left = []
        sock.close(linger=100)  # the replies above go out

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        while True:
            ready = dict(poller.poll())
            if self._wake_r in ready:
                return
            self._serve_queued()

    def _serve_queued(self) -> None:
        while True:
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            reply = None if self.left else self._snapshot_reply(frames)
            if reply is None:
                self.left.append(frames)
            else:
                self.answered += 1
                sent_ns = time.monotonic_ns()
                if self._send([f.bytes for f in frames[:-1]], reply) and not self.first_reply_ns:
                    self.first_reply_ns = sent_ns

    def _snapshot_reply(self, frames: list[zmq.Frame]) -> bytes | None:
        """The reply to an argument-free `status` or `ping` from an allowed peer; None for
        anything else (malformed, too large, another uid or command): the server answers."""
        if len(frames) < 2 or too_large(frames):
            return None
        uid = peer_uid(frames[-1])
        if uid is not None and uid not in self.allowed_uids:
            return None
        try:
            request = decode_request(frames[-1].bytes)
        except ControlError:
            return None
        if request.cmd not in EARLY_COMMANDS or request.args:
            return None
        if request.cmd == "ping":  # as the server answers it: this process is up
            return encode_ok(request.id, {"pid": os.getpid()})
        age_s = max(0.0, time.monotonic() - self._taken_at)
        uptime_s = float(self._daemon.get("uptime_s") or 0.0) + age_s
        daemon = {**self._daemon, "uptime_s": round(uptime_s, 3),
                  "snapshot_age_ms": round(age_s * 1e3, 3)}
        return encode_ok(request.id, {**self._snapshot, "daemon": daemon})

    def _send(self, envelope: list[bytes], reply: bytes) -> bool:
        try:
            self.socket.send_multipart([*envelope, reply], zmq.NOBLOCK)
        except zmq.ZMQError:  # peer gone or its queue full: its loss, as in the server
            self.reply_drops += 1
            return False
        return True


class Handed:
    """What an earlier image of this process handed over, read before the daemon's modules
    are imported: the document (None: a plain start, or `error`), the listening sockets it
    left and the early control serving one of them."""

    def __init__(self, doc: dict[str, Any] | None = None, error: HandoverError | None = None,
                 listeners: Listeners | None = None, early: EarlyControl | None = None,
                 ) -> None:
        self.doc = doc
        self.error = error  # unreadable: refused once the config is loaded
        self.listeners = listeners or Listeners()
        self.early = early


def resume_from_environment(environ: dict[str, str] | os._Environ[str] = os.environ, *,
                            serve_early: bool = True) -> Handed:
    """Take the handover this image was started with and, when it carries a `status`
    snapshot for an inherited control socket, answer on it at once (`serve_early`)."""
    try:
        doc = take_handover(environ)
        if doc is None:
            return Handed()
        listeners = Listeners(_inherited_listeners(doc))
    except HandoverError as exc:
        return Handed(error=exc)
    early = open_early(doc, listeners) if serve_early else None
    return Handed(doc=doc, listeners=listeners, early=early)


def open_early(doc: Mapping[str, Any], listeners: Listeners) -> EarlyControl | None:
    """The early control `doc` asks for, or None (no snapshot handed over, or the socket
    cannot be opened here: the control server binds it later, as on any start)."""
    control = doc.get("control")
    try:
        endpoint = str(control["endpoint"])  # type: ignore[index]
        snapshot = control["status"]  # type: ignore[index]
        taken_at, reexecs = float(control["taken_at"]), int(doc["reexecs"])  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return None
    if not isinstance(snapshot, dict) or not listeners.inherits(endpoint):
        return None
    try:
        return EarlyControl(endpoint, listeners, snapshot, taken_at, reexecs)
    except (zmq.ZMQError, OSError):
        return None


def _inherited_listeners(doc: Mapping[str, Any]) -> dict[str, int]:
    found = doc.get("listeners") or {}
    if not isinstance(found, dict) or not all(
            isinstance(k, str) and isinstance(v, int) for k, v in found.items()):
        raise HandoverError(f"handover listeners {found!r}: not a map of endpoint to fd",
                            tuple(doc.get("fds") or ()))
    return found
