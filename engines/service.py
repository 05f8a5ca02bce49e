"""Request/reply services between engines (`risk.kill_switch`, `positions.get`): ROUTER/DEALER.

Request `{"method", "args", "id"}`, reply `{"ok": true, "result", "id"}` or `{"ok": false,
"error": {"code", "message"}, "id"}`, msgpack-encoded. Servers never block; clients time out.

In an engine: create the server in on_start at `service_endpoint(ctx.runtime_dir, ctx.name)`,
return `[server.socket]` from wait_handles(), call `server.serve()` in poll(), close it in
on_stop. A caller: `ServiceClient(service_endpoint(rt, "risk")).call("risk.kill_switch",
on=True)` returns the result or raises ServiceError / ServiceTimeout.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import msgpack
import zmq

from engines.errors import ServiceError, ServiceTimeout

Handler = Callable[..., Any]
MAX_REQUEST_BYTES = 1 << 20
MAX_PER_WAKE = 64


def service_endpoint(runtime_dir: Path, engine: str) -> str:
    """Where the engine instance `engine` serves its methods."""
    return f"ipc://{runtime_dir}/svc-{engine}.sock"


class ServiceServer:
    """A ROUTER serving `handlers` by method name; poll `.socket`, then call `serve()`."""

    def __init__(self, endpoint: str, handlers: Mapping[str, Handler], *,
                 context: zmq.Context[Any] | None = None) -> None:
        self.endpoint = endpoint
        self.handlers = dict(handlers)
        self.counters = {"requests": 0, "errors": 0, "reply_drops": 0}
        sock = (context or zmq.Context.instance()).socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST_BYTES)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)  # with NOBLOCK: lost replies raise, counted
        try:
            sock.bind(endpoint)
        except zmq.ZMQError:
            sock.close(linger=0)
            raise
        self.socket = sock

    def serve(self, max_n: int = MAX_PER_WAKE) -> int:
        """Answer up to `max_n` queued requests without blocking; returns how many."""
        for served in range(max_n):
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return served
            self.counters["requests"] += 1
            reply = self._reply_for(frames[-1])
            try:
                self.socket.send_multipart([*frames[:-1], reply], zmq.NOBLOCK)
            except zmq.ZMQError:  # the client left or stopped reading
                self.counters["reply_drops"] += 1
        return max_n

    def _reply_for(self, raw: bytes) -> bytes:
        request_id = None
        try:
            doc = msgpack.unpackb(raw, raw=False)
            if not isinstance(doc, dict) or not isinstance(doc.get("method"), str):
                raise ServiceError("?", "BAD_REQUEST", "request must be a map with a method")
            request_id = doc.get("id")
            handler = self.handlers.get(doc["method"])
            if handler is None:
                raise ServiceError(doc["method"], "UNKNOWN_METHOD", f"no method "
                                   f"{doc['method']!r}; known: {sorted(self.handlers)}")
            args = doc.get("args") or {}
            if not isinstance(args, dict):
                raise ServiceError(doc["method"], "BAD_ARGS", "args must be a map")
            return _pack({"ok": True, "result": handler(**args), "id": request_id})
        except ServiceError as exc:
            return self._error(request_id, exc.code, exc.message)
        except (ValueError, TypeError, msgpack.UnpackException) as exc:
            return self._error(request_id, "BAD_REQUEST", f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a failing handler must not stop the engine's loop
            return self._error(request_id, "INTERNAL", f"{type(exc).__name__}: {exc}")

    def _error(self, request_id: Any, code: str, message: str) -> bytes:
        self.counters["errors"] += 1
        return _pack({"ok": False, "error": {"code": code, "message": message},
                      "id": request_id})

    def close(self) -> None:
        self.socket.close(linger=0)


class ServiceClient:
    """A DEALER to one ServiceServer; `call(method, **args)` returns or raises typed errors."""

    def __init__(self, endpoint: str, timeout_ms: int = 1_000, *,
                 context: zmq.Context[Any] | None = None) -> None:
        self.endpoint = endpoint
        self.timeout_ms = timeout_ms
        self._context = context or zmq.Context.instance()
        self._ids = itertools.count(1)
        self._socket: zmq.Socket[Any] | None = None

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def call(self, method: str, timeout_ms: int | None = None, **args: Any) -> Any:
        timeout_ms = self.timeout_ms if timeout_ms is None else timeout_ms
        sock = self._connect()
        request_id = next(self._ids)
        try:
            sock.send(_pack({"method": method, "args": args, "id": request_id}), zmq.NOBLOCK)
        except zmq.Again:
            raise ServiceTimeout(method, self.endpoint, timeout_ms) from None
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0 or not sock.poll(left_ms, zmq.POLLIN):
                self.close()  # drop the late reply with the socket
                raise ServiceTimeout(method, self.endpoint, timeout_ms)
            reply = msgpack.unpackb(sock.recv(), raw=False)
            if not isinstance(reply, dict) or reply.get("id") != request_id:
                continue  # a late reply to an earlier call
            if reply.get("ok"):
                return reply.get("result")
            error = reply.get("error") or {}
            raise ServiceError(method, str(error.get("code")), str(error.get("message")))

    def _connect(self) -> zmq.Socket[Any]:
        if self._socket is None:
            sock = self._context.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(self.endpoint)
            self._socket = sock
        return self._socket

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None


def _pack(obj: Any) -> bytes:
    packed: bytes = msgpack.packb(obj, use_bin_type=True)
    return packed
