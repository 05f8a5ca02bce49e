"""The control socket: a ZeroMQ ROUTER in nautilusd's loop that serves nautilusctl requests.

It owns the socket's safety: permissions and peer-credential checks, bounded message size,
bounded work per wake, and sends that never block on a slow or vanished client.

Who may connect (what holds, in order):
1. the runtime dir is 0700 and the socket file is created 0600 (umask around bind, then a
   chmod), so other non-root users cannot even connect(2);
2. libzmq's ZMQ_IPC_FILTER_UID (present and working in libzmq 4.3.5 on Linux) drops, at
   accept, any peer whose SO_PEERCRED uid is not ours (or root's): such a peer's messages
   never reach us;
3. each message's "Peer-Address" metadata carries the peer's SO_PEERCRED as
   `<addr>:<uid>:<gid>:<pid>` (libzmq stream engine); a message from another uid gets a
   FORBIDDEN reply, in case (2) is unavailable in another libzmq build.
On the fleet's CURVE endpoint (nautilusd.fleet) the ZAP handler admits [[peers]] keys only,
and each request runs only if that peer's grant allows the command (control.permissions):
a refusal is a FORBIDDEN reply naming the command and the peer, counted and logged.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import structlog
import zmq

from engines.service import service_endpoint
from nautilusd.config.model import Topology
from nautilusd.config.params import load_checked
from nautilusd.control.commands import COMMANDS, Command, CommandContext
from nautilusd.control.commands.context import CommandLoop, SupervisorApi
from nautilusd.control.endpoint import (
    MAX_FRAMES,
    MAX_MESSAGE_BYTES,
    bind_private,
    ipc_path,
    peer_uid,
    router_socket,
    too_large,
)
from nautilusd.control.permissions import Grant
from nautilusd.control.protocol import (
    ErrorCode,
    decode_request,
    encode_error,
    encode_ok,
    plain,
    request_id_of,
)
from nautilusd.errors import ControlError, NautilusdError
from nautilusd.listeners import Listeners

log = structlog.get_logger("nautilusd.control.server")

MAX_PER_WAKE = 64  # requests served per wake, so timers and exits are never starved
FLEET_ZAP_DOMAIN = "nautilusd.control"

# Supervisor errors mapped to wire codes by class name, so this module need not import
# the supervisor (which may define its own subclasses).
_CODE_BY_ERROR = {
    "UnknownTargetError": ErrorCode.UNKNOWN_TARGET,
    "ConfigError": ErrorCode.CONFIG_INVALID,
}


class ServerLoop(CommandLoop, Protocol):
    """The daemon loop as the server uses it, besides what its commands use."""

    def add_reader(self, pollable: zmq.Socket[Any], callback: Callable[[], None]) -> None: ...

    def remove_reader(self, pollable: zmq.Socket[Any]) -> None: ...


if TYPE_CHECKING:
    from nautilusd.supervisor import Supervisor

    def _supervisor_serves_commands(supervisor: Supervisor) -> SupervisorApi[Topology]:
        """mypy proves here that the real Supervisor has everything the commands call."""
        return supervisor


class ControlServer:
    """ROUTER bound at `endpoint`, registered with `loop`, dispatching to `supervisor`."""

    def __init__(self, endpoint: str, supervisor: SupervisorApi[Topology], loop: ServerLoop, *,
                 context: zmq.Context[Any] | None = None,
                 commands: Mapping[str, Command] | None = None,
                 endpoints: dict[str, str] | None = None,
                 max_per_wake: int = MAX_PER_WAKE, listeners: Listeners | None = None,
                 curve: tuple[bytes, bytes] | None = None,
                 grants: Mapping[str, Grant] | None = None,
                 on_denied: Callable[[], None] | None = None,
                 taken_over: tuple[zmq.Socket[Any], list[list[zmq.Frame]]] | None = None,
                 ) -> None:
        """`curve` = the host's (public, secret) CURVE keys: a tcp:// endpoint is a CURVE
        server admitting the keys its context's ZAP handler allows (nautilusd.fleet);
        `grants` (by Z85 public key, the ZAP User-Id) says what each peer may run: with
        `curve`, a request from a key not in it runs nothing; `on_denied` is told of each
        refusal. `taken_over` = a socket already bound at `endpoint` (the early control of a
        re-executed image) and the requests it left, answered first, in arrival order."""
        self.endpoint = endpoint
        self._listeners = listeners or Listeners()
        self.allowed_uids = frozenset({os.geteuid(), 0})
        self.max_per_wake = max_per_wake
        self._commands = dict(COMMANDS if commands is None else commands)
        self._loop = loop
        self.counters = {"requests": 0, "errors": 0, "forbidden": 0, "reply_drops": 0,
                         "busy_wakes": 0, "too_large": 0, "denied": 0}
        socket_path = ipc_path(endpoint)
        runtime_dir = socket_path.parent if socket_path else None
        self._ctx = CommandContext(
            supervisor=supervisor, loop=loop, load_topology=load_checked, runtime_dir=runtime_dir,
            endpoints={"control": endpoint, **(endpoints or {})}, server_stats=self.stats,
            service_endpoint=functools.partial(service_endpoint, runtime_dir)
            if runtime_dir else None)
        self._curve = curve
        self._grants = None if curve is None else dict(grants or {})
        self._on_denied = on_denied
        self.after_first_reply: Callable[[], object] | None = None  # called once, then None
        if taken_over is None:
            self.socket = self._bind((context or zmq.Context.instance()), endpoint)
        else:
            self.socket, left = taken_over
            for frames in left:
                self._serve(frames)
        loop.add_reader(self.socket, self._on_readable)

    def _bind(self, context: zmq.Context[Any], endpoint: str) -> zmq.Socket[Any]:
        sock = router_socket(context, self.allowed_uids)
        if self._curve is not None:
            from engines.bridge.keys import curve_server  # fleet control only: not at every start

            public, secret = self._curve
            curve_server(sock, secret, public, FLEET_ZAP_DOMAIN)
        elif not endpoint.startswith("ipc://"):
            sock.close(linger=0)
            raise ControlError(ErrorCode.FAILED.value, f"control endpoint {endpoint!r}: "
                               f"only ipc:// without CURVE keys")
        bind_private(sock, endpoint, self._listeners)
        path = ipc_path(endpoint)
        if path is not None:
            _warn_if_open(path.parent)
        return sock

    def stats(self) -> dict[str, int]:
        return dict(self.counters)

    def local_result(self, cmd: str) -> Any:
        """What the argument-free command `cmd` answers now, as plain data (what a client
        would decode): the snapshot a re-executed image serves while it starts."""
        return plain(self._commands[cmd].run(self._ctx, {}))

    def drain(self) -> None:
        """Serve every request already queued (before nautilusd re-executes itself)."""
        while self.socket.poll(0, zmq.POLLIN):
            self._on_readable()

    def close(self) -> None:
        """Unregister from the loop and close the socket (idempotent)."""
        if self.socket.closed:
            return
        with contextlib.suppress(KeyError, ValueError):
            self._loop.remove_reader(self.socket)
        self.socket.close(linger=0)
        path = ipc_path(self.endpoint)
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _on_readable(self) -> None:
        """Serve what is queued, at most max_per_wake requests; the poller wakes us again."""
        for _ in range(self.max_per_wake):
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            self._serve(frames)
        self.counters["busy_wakes"] += 1

    def _serve(self, frames: list[zmq.Frame]) -> None:
        self.counters["requests"] += 1
        if len(frames) < 2:
            return  # a ROUTER always prefixes the identity: nothing to answer to
        if too_large(frames):
            size = sum(len(f) for f in frames)
            self.counters["errors"] += 1
            self.counters["too_large"] += 1
            delimiter = [b""] if len(frames[1]) == 0 else []  # a REQ peer expects it back
            self._send([frames[0].bytes, *delimiter], encode_error(
                None, ErrorCode.TOO_LARGE, f"request of {size} bytes in {len(frames)} frames "
                f"exceeds {MAX_MESSAGE_BYTES} bytes in {MAX_FRAMES} frames (identity "
                f"included)"))
            return
        envelope = [f.bytes for f in frames[:-1]]  # [identity] (DEALER) or [identity, b""]
        body = frames[-1]
        uid = peer_uid(body)
        if uid is not None and uid not in self.allowed_uids:
            self.counters["forbidden"] += 1
            reply = encode_error(None, ErrorCode.FORBIDDEN,
                                 f"uid {uid} may not use this daemon (runs as uid {os.geteuid()})")
        else:
            reply = self._reply_for(body.bytes, self._grant_of(body))
        self._send(envelope, reply)

    def _grant_of(self, body: zmq.Frame) -> Grant | None:
        """The CURVE peer's grant (an admitted key not granted: nothing at all); None on the
        local socket, where the uid check above is the rule."""
        if self._grants is None:
            return None
        try:
            key = body.get("User-Id")
        except zmq.ZMQError:
            key = ""
        return self._grants.get(str(key), Grant(f"key {key}", frozenset(), frozenset()))

    def _deny(self, grant: Grant, name: str, command: Command | None) -> ControlError:
        self.counters["denied"] += 1
        message = grant.refusal(name, command)
        log.warning("control_command_denied", peer=grant.peer, command=name,
                    denied=self.counters["denied"], reason=message)
        if self._on_denied is not None:
            self._on_denied()
        return ControlError(ErrorCode.FORBIDDEN.value, message)

    def _reply_for(self, raw: bytes, grant: Grant | None = None) -> bytes:
        request_id = None
        try:
            request = decode_request(raw)
            request_id = request.id
            command = self._commands.get(request.cmd)
            if grant is not None and not grant.allows(request.cmd, command):
                raise self._deny(grant, request.cmd, command)
            if self._ctx.supervisor.shutting_down and not (command and command.read_only):
                raise ControlError(ErrorCode.UNAVAILABLE.value,
                                   f"nautilusd is shutting down; {request.cmd!r} refused")
            if command is None:
                raise ControlError(ErrorCode.UNKNOWN_COMMAND.value,
                                   f"unknown command {request.cmd!r}; known: "
                                   f"{', '.join(sorted(self._commands))}")
            return encode_ok(request_id, command.run(self._ctx, request.args))
        except ControlError as exc:
            self.counters["errors"] += 1
            return encode_error(request_id if request_id is not None else request_id_of(raw),
                                exc.code, exc.message)
        except NautilusdError as exc:
            self.counters["errors"] += 1
            return encode_error(request_id, _code_for(exc), str(exc))
        except Exception as exc:  # the dispatch edge: a bug must not take the daemon down
            self.counters["errors"] += 1
            log.exception("control_command_failed", request_id=request_id)
            return encode_error(request_id, ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}")

    def _send(self, envelope: list[bytes], reply: bytes) -> None:
        try:
            self.socket.send_multipart([*envelope, reply], zmq.NOBLOCK)
        except zmq.ZMQError:  # peer gone or its queue full: its loss, never the loop's
            self.counters["reply_drops"] += 1
            return
        if self.after_first_reply is not None:
            hook, self.after_first_reply = self.after_first_reply, None
            hook()


def _code_for(exc: BaseException) -> ErrorCode:
    for cls in type(exc).__mro__:
        if cls.__name__ in _CODE_BY_ERROR:
            return _CODE_BY_ERROR[cls.__name__]
    return ErrorCode.FAILED


def _warn_if_open(directory: Path) -> None:
    with contextlib.suppress(OSError):
        mode = directory.stat().st_mode & 0o777
        if mode & 0o077:
            log.warning("control_dir_not_private", directory=str(directory), mode=oct(mode))
