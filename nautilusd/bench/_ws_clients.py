"""WebSocket clients for `bench websocket`, run in their own process (measured from outside).

A minimal client over asyncio.Protocol (a handshake, unmasked server frames, pongs): it
counts messages per client in two phases and keeps bus -> socket latencies of sampled
frames. The orchestrator sends "A0 A1 B0 B1 END" (CLOCK_MONOTONIC seconds) on stdin once
every client is connected; in phase B the first client of process 0 stops reading (its
receive buffer made small, so the gateway's send buffer fills), then reads again after B and
reports whether the gateway had closed its connection. Prints one JSON document at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import struct
import sys
import time
import urllib.parse
from typing import Any

SAMPLE_EVERY = 8  # frames per client between two latency samples
STALLED_RCVBUF_BYTES = 4096  # the stalled client's receive buffer: the kernel cannot hide it
DROP_SEEN_WITHIN_S = 3.0  # after B, how long the stalled client reads on to see its close
_MARK = b'"topic":'


class Client(asyncio.Protocol):
    def __init__(self, request: bytes, phases: list[float]) -> None:
        self.request, self.phases = request, phases
        self.buf = bytearray()
        self.upgraded = asyncio.get_running_loop().create_future()
        self.counts = [0, 0]
        self.frames = 0
        self.latency_ms: list[float] = []
        self.transport: asyncio.Transport | None = None
        self.lost = asyncio.get_running_loop().create_future()  # set when the peer closes

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(True)
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError(f"closed before the upgrade: {exc}"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.upgraded.done():
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buf[:end]).split(b"\r\n", 1)[0]
            del self.buf[:end + 4]
            if b" 101 " not in status + b" ":
                self.upgraded.set_exception(ConnectionError(status.decode(errors="replace")))
                return
            self.upgraded.set_result(True)
        self._frames()

    def _frames(self) -> None:
        buf, pos, size = self.buf, 0, len(self.buf)
        while size - pos >= 2:
            n, head = buf[pos + 1] & 0x7F, 2
            if n == 126:
                if size - pos < 4:
                    break
                n, head = struct.unpack_from(">H", buf, pos + 2)[0], 4
            elif n == 127:
                if size - pos < 10:
                    break
                n, head = struct.unpack_from(">Q", buf, pos + 2)[0], 10
            if size - pos < head + n:
                break
            self._frame(buf, buf[pos] & 0x0F, pos + head, pos + head + n)
            pos += head + n
        del buf[:pos]

    def _frame(self, buf: bytearray, opcode: int, start: int, end: int) -> None:
        if opcode == 9 and self.transport is not None:  # ping: a masked pong, zero key
            self.transport.write(bytes([0x8A, 0x80 | (end - start)]) + b"\0\0\0\0"
                                 + bytes(buf[start:end]))
            return
        if opcode != 1 or not buf.startswith(b'{"type":"batch"', start, end):
            return
        now = time.monotonic()
        a0, a1, b0, b1 = self.phases[:4] if self.phases else (0.0, 0.0, 0.0, 0.0)
        phase = 0 if a0 <= now < a1 else 1 if b0 <= now < b1 else -1
        if phase < 0:
            return
        self.counts[phase] += buf.count(_MARK, start, end)
        self.frames += 1
        if self.frames % SAMPLE_EVERY == 0:
            now_ns = time.monotonic_ns()
            self.latency_ms.extend((now_ns - m["data"]["sent_ns"]) / 1e6
                                   for m in json.loads(bytes(buf[start:end]))["messages"])


def handshake(url: str) -> tuple[str, int, bytes]:
    parts = urllib.parse.urlsplit(url)
    key = base64.b64encode(os.urandom(16)).decode()
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    request = (f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode()
    return parts.hostname or "127.0.0.1", parts.port or 80, request


async def run(url: str, clients: int, stall_first: bool) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    host, port, request = handshake(url)
    phases: list[float] = []
    made: list[Client] = []
    gate = asyncio.Semaphore(32)

    async def one(rcvbuf_bytes: int = 0) -> None:
        async with gate:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if rcvbuf_bytes:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf_bytes)
            sock.setblocking(False)
            await loop.sock_connect(sock, (host, port))
            _, proto = await loop.create_connection(lambda: Client(request, phases), sock=sock)
            await proto.upgraded
            made.append(proto)

    if stall_first:  # first, so that made[0] is the stalled one
        await one(STALLED_RCVBUF_BYTES)
    await asyncio.gather(*(one() for _ in range(clients - len(made))))
    print("connected", len(made), flush=True)
    line = await loop.run_in_executor(None, sys.stdin.readline)
    phases.extend(float(x) for x in line.split())
    await asyncio.sleep(max(0.0, phases[2] - time.monotonic()))
    if stall_first and made[0].transport is not None:
        made[0].transport.pause_reading()  # the stalled client: reads nothing from now on
    await asyncio.sleep(max(0.0, phases[4] - time.monotonic()))
    dropped = await _dropped(made[0]) if stall_first else None
    result = {"connected": len(made), "counts_a": [c.counts[0] for c in made],
              "counts_b": [c.counts[1] for c in made], "stalled": 0 if stall_first else -1,
              "stalled_dropped": dropped,
              "latency_ms": [x for c in (made[1:] if stall_first else made)
                             for x in c.latency_ms]}
    for c in made:
        if c.transport is not None:
            c.transport.abort()
    return result


async def _dropped(stalled: Client) -> bool:
    """Read again: did the gateway close the stalled client's connection (seen here)?"""
    if stalled.transport is not None and not stalled.lost.done():
        stalled.transport.resume_reading()
    try:
        await asyncio.wait_for(asyncio.shield(stalled.lost), DROP_SEEN_WITHIN_S)
    except TimeoutError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nautilusd.bench._ws_clients")
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--stall-first", action="store_true")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.url, args.clients, args.stall_first))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
