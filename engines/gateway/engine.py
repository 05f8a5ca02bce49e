"""The gateway engine: bus topics to browsers over WebSocket, and the dashboard page.

Off the order path: it reads the bus only. Inside, one asyncio loop (the `websockets`
server) runs in slices from `poll`, so the runner keeps heartbeating; bus messages are read
when the bus socket is readable and flushed to clients every `flush_interval_ms` (engines.
gateway._hub). Clients send JSON: {"type": "subscribe"|"unsubscribe", "topics": [...]} and,
when `actions` is on, {"type": "action", "action": "kill_switch", "engage": true}.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import websockets
import zmq
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.frames import Frame, Opcode
from websockets.protocol import State as WsState

from engines.base import Engine
from engines.gateway._http import WS_PATH, HttpFront, load_token
from engines.gateway._hub import Hub, HubLimits, SubscriptionError, message_part
from engines.params import ParamError, parse_params
from engines.service import ServiceClient, service_endpoint
from shm.status import W_CUSTOM0, W_ERRORS, W_RECORDS_IN, W_RECORDS_OUT

W_CLIENTS, W_DROPPED_CLIENTS, W_REFUSED, W_CONFLATED, W_UNAUTHORISED = range(W_CUSTOM0,
                                                                              W_CUSTOM0 + 5)
SLICE_S = 0.05  # longest one poll runs the loop: the runner heartbeats in between


# A dropped slow client gets its close frame and this long before its socket is cut: it reads
# nothing, so websockets' close handshake would never finish (it waits on a paused drain).
DROP_ABORT_AFTER_S = 1.0
CLIENT_SNDBUF_BYTES = 64 * 1024  # the kernel's share of a client's backlog (see below)


@dataclass(frozen=True, kw_only=True, slots=True)
class GatewayParams:
    host: str = "127.0.0.1"
    port: int = 8765  # 0 = any free port (written to <runtime_dir>/<name>.json)
    token: str = ""  # "" = the token in <state_dir>/gateway.token, made if absent
    topics: tuple[str, ...] = ("system.", "risk.", "trading.positions.", "analytics.")
    flush_interval_ms: float = 10.0
    max_clients: int = 2_000
    max_subscriptions: int = 32
    max_message_bytes: int = 4_096  # largest message a client may send
    slow_client_bytes: int = 256 * 1024
    drop_client_bytes: int = 4 * 1024 * 1024
    drop_slow_after_s: float = 10.0
    actions: bool = False  # operator actions (kill switch) from the page, with the token
    risk_engine: str = "risk"


class GatewayEngine(Engine):
    params_spec = GatewayParams
    counters = ("clients", "dropped_clients", "refused_clients", "conflated", "unauthorised")

    def on_start(self) -> None:
        self.p = parse_params(GatewayParams, self.ctx.params, f"engines.{self.ctx.name}")
        p = self.p
        self.sub = self.ctx.subscriber(list(p.topics))
        self.loop = asyncio.new_event_loop()
        self.hub = Hub(HubLimits(max_clients=p.max_clients, max_subscriptions=p.max_subscriptions,
                                 slow_bytes=p.slow_client_bytes, drop_bytes=p.drop_client_bytes,
                                 drop_after_s=p.drop_slow_after_s),
                       send=_broadcast, buffered=_buffered, drop=self._drop,
                       default_prefixes=tuple(p.topics))
        self.front = HttpFront(load_token(p.token, self.ctx.state), self.hub.full)
        try:
            self.server: Server = self.loop.run_until_complete(self._serve())
        except OSError as exc:  # a host that does not resolve, a port in use or not ours
            self.loop.close()
            raise ParamError(f"engines.{self.ctx.name}.params: cannot listen on host "
                             f"{p.host!r} port {p.port}: {exc}") from None
        self.port = self.server.sockets[0].getsockname()[1]
        self._write_address()
        self.loop.add_reader(self.sub.socket.getsockopt(zmq.FD), self._read_bus)
        self.flush_s = p.flush_interval_ms / 1000
        self.next_flush = time.monotonic() + self.flush_s
        self.log.info("gateway_listening", url=self.url)

    async def _serve(self) -> Server:
        p = self.p
        return await serve(self._client, p.host, p.port, process_request=self.front,
                           max_size=p.max_message_bytes, max_queue=4, compression=None)

    @property
    def url(self) -> str:
        return f"http://{self.p.host}:{self.port}/"

    def _write_address(self) -> None:
        doc = {"url": self.url, "ws": f"ws://{self.p.host}:{self.port}{WS_PATH}",
               "pid": os.getpid()}
        path = self.ctx.runtime_dir / f"{self.ctx.name}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, path)

    def poll(self) -> int:
        """Run the loop for one slice (bus reads, client I/O, flushes); always busy."""
        self.loop.run_until_complete(self._slice())
        self._count()
        return 1

    async def _slice(self) -> None:
        end = time.monotonic() + SLICE_S
        while (now := time.monotonic()) < end:
            if now >= self.next_flush:
                self._read_bus()  # the bus fd is edge-triggered: look before each flush
                self.hub.flush(now)
                self.next_flush = now + self.flush_s
            await asyncio.sleep(max(0.0, min(self.next_flush, end) - time.monotonic()))

    def _read_bus(self) -> None:
        hub, n = self.hub, 0
        while n < 10_000 and (msg := self.sub.recv(0)) is not None:
            hub.on_bus(msg[0], message_part(msg[0], msg[1], time.monotonic_ns()))
            n += 1

    def _count(self) -> None:
        c, words = self.hub.counters, self.ctx.status.words
        words[W_RECORDS_IN] = c.received
        words[W_RECORDS_OUT] = c.delivered
        words[W_ERRORS] = c.bad_requests
        words[W_CLIENTS] = len(self.hub.clients)
        words[W_DROPPED_CLIENTS] = c.dropped_clients
        words[W_REFUSED] = c.refused_clients
        words[W_CONFLATED] = c.conflated
        words[W_UNAUTHORISED] = self.front.unauthorised

    async def _client(self, conn: ServerConnection) -> None:
        _bound_send_buffer(conn)
        client = self.hub.add(conn)
        if client is None:
            await conn.close(1013, "too many clients")
            return
        try:
            await conn.send(self.hub.snapshot(client))
            async for raw in conn:
                reply = await self._request(client, raw)
                await conn.send(json.dumps(reply, default=str))
        except websockets.ConnectionClosed:
            pass
        finally:
            self.hub.remove(conn)

    async def _request(self, client: Any, raw: str | bytes) -> dict[str, Any]:
        try:
            msg = json.loads(raw)
            kind = msg.get("type") if isinstance(msg, dict) else None
            if kind in ("subscribe", "unsubscribe"):
                topics = self.hub.subscribe(client, msg.get("topics"), add=kind == "subscribe")
                return {"type": "subscribed", "topics": list(topics)}
            if kind == "action":
                return await self._action(msg)
            raise SubscriptionError(f"unknown message type {kind!r}")
        except (ValueError, SubscriptionError) as exc:
            self.hub.counters.bad_requests += 1
            return {"type": "error", "error": str(exc)}

    async def _action(self, msg: dict[str, Any]) -> dict[str, Any]:
        if not self.p.actions:
            raise SubscriptionError("operator actions are disabled ([engines.gateway] actions)")
        if msg.get("action") != "kill_switch":
            raise SubscriptionError(f"unknown action {msg.get('action')!r}")
        engage = bool(msg.get("engage", True))
        result = await self.loop.run_in_executor(None, self._kill_switch, engage)
        self.log.warning("operator_action", action="kill_switch", engage=engage, result=result)
        return {"type": "action", "action": "kill_switch", "result": result}

    def _kill_switch(self, engage: bool) -> Any:
        endpoint = service_endpoint(self.ctx.runtime_dir, self.p.risk_engine)
        with ServiceClient(endpoint, timeout_ms=2_000) as client:
            return client.call("risk.kill_switch", engage=engage, why="dashboard operator")

    def _drop(self, conn: Any, why: str) -> None:
        self.log.warning("gateway_client_dropped", why=why)
        self.loop.create_task(conn.close(1008, "slow client"))
        transport = getattr(conn, "transport", None)
        if transport is not None:
            self.loop.call_later(DROP_ABORT_AFTER_S, transport.abort)

    def next_wakeup_s(self) -> float | None:
        return 0.0

    def on_stop(self) -> None:
        self.loop.remove_reader(self.sub.socket.getsockopt(zmq.FD))
        self.server.close()
        with contextlib.suppress(Exception):
            self.loop.run_until_complete(asyncio.wait_for(self.server.wait_closed(), 2.0))
        self.loop.close()
        (self.ctx.runtime_dir / f"{self.ctx.name}.json").unlink(missing_ok=True)


def _broadcast(conns: list[ServerConnection], text: str) -> None:
    """Write one text frame to every open connection: framed once (server frames are not
    masked), then one transport write each. Frames are whole, and asyncio runs one callback
    at a time, so these never interleave with websockets' own sends (snapshot, replies)."""
    frame = Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])
    for conn in conns:
        if conn.state is WsState.OPEN:
            conn.transport.write(frame)


def _bound_send_buffer(conn: Any) -> None:
    """A fixed kernel send buffer per client: autotuned loopback buffers grow to megabytes,
    which would hide a stalled client from the slow-client limits (they see only what the
    kernel refused) and cost megabytes per client at a thousand clients."""
    sock = conn.transport.get_extra_info("socket") if conn.transport is not None else None
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, CLIENT_SNDBUF_BYTES)


def _buffered(conn: Any) -> int:
    transport = getattr(conn, "transport", None)
    return transport.get_write_buffer_size() if transport is not None else 0
