"""The sending half of a ring bridge: reads one local ring, sends its records to a peer.

Batches are whatever the ring holds, up to `max_batch` (one record when idle, large batches
under load). A `block` ring's reader cursor moves only when the far side acknowledges, so the
ring keeps everything unacknowledged for a resend and its writer waits (bounded by the ring's
block_timeout_ms) when the link is slow; an `overwrite` ring is read as it comes and its
writer never waits: a slow link laps this reader, which counts the gap. A (re)started far
side says where it resumes (its HELLO): the sender starts exactly there, from its ring's
history; what the ring no longer holds is reported LOST and counted, never sent twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import zmq

from engines.base import Engine, Pollable
from engines.bridge import _wire as wire
from engines.bridge._link import bridge_socket, bridged_ring, peer_of, writable
from engines.bridge._resume import ring_identity
from engines.bridge._sequence import Outbound, SenderState
from engines.bridge.keys import check_public_key, curve_client, load_keypair
from engines.params import param, parse_params
from engines.wiring import quiet
from shm import Policy, RingReader
from shm.layout import RECORDS, fingerprint
from shm.status import W_CUSTOM0, W_ERRORS, W_RECORDS_OUT

LINK_UP, GAPS, RESENT, LOST, REFUSED = range(W_CUSTOM0, W_CUSTOM0 + 5)


@dataclass(frozen=True, kw_only=True, slots=True)
class RingSenderParams:
    peer: str = ""  # required: the [[peers]] name of the receiving host
    port: int = param(0, min=0, max=65535)  # required: the port its receiver binds
    record: str = param("", choices=("", *RECORDS))  # the ring's layout, as a check
    max_batch: int = param(4096, unit="records", min=1)
    resend_after_ms: int = param(300, unit="ms", min=1)
    link_timeout_ms: int = param(1000, unit="ms", min=10)
    heartbeat_ms: int = param(100, unit="ms", min=1)
    overwrite_sndbuf_bytes: int = param(65536, unit="bytes", min=4096)


class RingSenderEngine(Engine):
    """Reads its one reader ring and sends it over CURVE to the peer's RingReceiverEngine."""

    counters = ("link_up", "gaps", "resent", "lost", "refused")
    params_spec = RingSenderParams

    def on_start(self) -> None:
        ctx = self.ctx
        p = self.p = parse_params(RingSenderParams, ctx.params, f"engines.{ctx.name}.params")
        peer = peer_of(ctx, p.peer, p.port)
        self.ring_name, reader = bridged_ring(ctx.name, ctx.readers, RingReader, p.record,
                                              "a ring sender reads")
        quiet(ctx, reader)  # woken by its doorbell only when it can send
        self.reader: RingReader = reader
        self.block = reader.policy is Policy.BLOCK
        self.fingerprint = fingerprint(reader.dtype)
        self.rs = reader.dtype.itemsize
        self.out = Outbound(self.block, p.resend_after_ms * 1_000_000)
        self.stream = ring_identity(reader)  # positions are this ring incarnation's
        public, secret = load_keypair(ctx.state_dir)
        self.zctx: zmq.Context[Any] = zmq.Context()
        self.sock = bridge_socket(self.zctx, p.link_timeout_ms)
        if not self.block:
            # Bounded in flight: a dead link's kernel buffer must not queue seconds of stale
            # market data; the back-pressure stops the reads and the ring laps us (counted).
            self.sock.setsockopt(zmq.SNDBUF, p.overwrite_sndbuf_bytes)
        curve_client(self.sock, secret, public,
                     check_public_key(peer.public_key, f"[[peers]] {peer.name}.public_key"))
        self.endpoint = f"tcp://{peer.address}:{p.port}"
        self.sock.connect(self.endpoint)
        self.heard_ns = self.beat_ns = 0
        self.link_timeout_ns = p.link_timeout_ms * 1_000_000
        self.heartbeat_ns = p.heartbeat_ms * 1_000_000
        self.words = ctx.status.words
        self.parked = False
        self.refused_logged = False
        self.log.info("bridge_sender_started", ring=self.ring_name, endpoint=self.endpoint,
                      policy="block" if self.block else "overwrite")

    def wait_handles(self) -> list[Pollable]:
        return [self.sock, self.reader.fileno()]

    def poll(self) -> int:
        if self.parked:
            self.reader.unpark()
            self.parked = False
        now = time.monotonic_ns()
        work = self._receive(now)
        words = self.words
        words[LINK_UP] = 1 if now - self.heard_ns < self.link_timeout_ns else 0
        if self.out.state is SenderState.WAITING:
            if now - self.beat_ns >= self.heartbeat_ns:  # ask for a HELLO (a restart here)
                self._send(wire.pack(wire.Kind.HEARTBEAT, 0, 0, 0, wire.FLAG_START))
                self.beat_ns = now
            return work
        if not writable(self.sock):
            return work
        self.out.check_stalled(now)
        sent = self._send_block(now) if self.block else self._send_overwrite(now)
        if sent:
            self.beat_ns = now
            words[W_RECORDS_OUT] += sent
            words[RESENT] = self.out.resent_records
        elif now - self.beat_ns >= self.heartbeat_ns:
            self._send(wire.pack(wire.Kind.HEARTBEAT, self.out.next_pos))
            self.beat_ns = now
        return work + sent

    def _send_block(self, now: int) -> int:
        reader, out = self.reader, self.out
        end = reader.cursor + reader.available()
        start = out.next_pos
        if start >= end:
            return 0
        first, records = reader.history(start, min(end, start + self.p.max_batch))
        if first > start:  # gone from the ring (a resend asked for more than it holds)
            self._lost(start, first)
        if not len(records):
            out.next_pos = first
            return 0
        return self._send_data(first, records, now)

    def _send_overwrite(self, now: int) -> int:
        reader = self.reader
        records = reader.read(self.p.max_batch)
        self.words[GAPS] = reader.lost  # lapped before it could be sent
        if not len(records):
            return 0
        first = reader.cursor
        reader.advance(len(records))
        return self._send_data(first, records, now)

    def _send_data(self, first: int, records: Any, now: int) -> int:
        n = len(records)
        flags = self.out.sent(first, n, now)
        header = wire.pack(wire.Kind.DATA, first, n, self.fingerprint, flags, self.stream)
        if not self._send(header, records.view("u1").data):
            self.out.next_pos = first  # block: resent from the ring; overwrite: a gap there
            if not self.block:
                self.out.next_pos = first + n
            return 0
        return n

    def _send(self, header: bytes, payload: Any = None) -> bool:
        try:
            if payload is None:
                self.sock.send(header, zmq.NOBLOCK)
            else:
                self.sock.send_multipart((header, payload), zmq.NOBLOCK)
        except zmq.Again:
            return False
        return True

    def _receive(self, now: int) -> int:
        handled = 0
        while handled < 256:
            try:
                frame = self.sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            handled += 1
            self.heard_ns = now
            try:
                msg = wire.unpack(frame)
            except wire.WireError as exc:
                self.ctx.status.add(W_ERRORS)
                self.log.warning("bridge_bad_message", error=str(exc))
                continue
            self._on_message(msg, now)
        return handled

    def _on_message(self, msg: wire.Header, now: int) -> None:
        kind, out = msg.kind, self.out
        if kind is wire.Kind.HELLO:
            if msg.fingerprint != self.fingerprint or msg.count != self.rs:
                self.words[REFUSED] += 1
                self._send(wire.pack(wire.Kind.REFUSE, 0, self.rs, self.fingerprint))
                if not self.refused_logged:
                    self.refused_logged = True
                    self.log.error("bridge_schema_mismatch", ring=self.ring_name,
                                   ours=self.fingerprint, theirs=msg.fingerprint,
                                   record_size=self.rs, their_record_size=msg.count)
                return
            self._on_hello(msg)
        elif kind in (wire.Kind.ACK, wire.Kind.NACK) and msg.stream == self.stream:
            moved = out.on_ack(msg.first, now)
            if moved and self.block:
                self.reader.advance(moved)
            if kind is wire.Kind.NACK:
                out.on_nack(msg.first)
                self.words[RESENT] = out.resent_records

    def _on_hello(self, msg: wire.Header) -> None:
        """Start where the far ring ends (its resume position in our stream), else at our
        committed cursor; a block ring's reader moves up to what the far ring holds."""
        reader, out = self.reader, self.out
        resume = msg.first if msg.stream == self.stream else -1
        published = reader.cursor + reader.available()
        if resume > published:
            self.ctx.status.add(W_ERRORS)
            self.log.error("bridge_resume_beyond_ring", ring=self.ring_name, resume=resume,
                           published=published)
        committed = reader.cursor
        lost_from, lost_to = out.on_hello(committed, resume, published)
        if lost_to > lost_from:
            self._lost(lost_from, lost_to)
        if self.block and out.acked > committed:
            reader.advance(out.acked - committed)
        self.log.info("bridge_peer_hello", ring=self.ring_name, start=out.next_pos,
                      asked=resume, committed=committed)

    def _lost(self, first: int, end: int) -> None:
        self._send(wire.pack(wire.Kind.LOST, first, end - first, 0, 0, self.stream))
        self.words[LOST] += end - first
        self.log.warning("bridge_records_lost", ring=self.ring_name, first=first,
                         count=end - first)

    def next_wakeup_s(self) -> float | None:
        heartbeat_s = self.heartbeat_ns * 1e-9
        if self.out.state is SenderState.WAITING or not writable(self.sock):
            return min(heartbeat_s, 0.05)  # the link's coming back shows as POLLOUT only
        if self.block and self.out.next_pos < self.reader.cursor + self.reader.available():
            return 0.0
        pending = self.reader.park()
        self.parked = True
        if pending and not self.block:
            return 0.0
        if self.block and self.out.next_pos > self.reader.cursor:
            return min(heartbeat_s, self.p.resend_after_ms * 1e-3)
        return heartbeat_s

    def on_stop(self) -> None:
        self.log.info("bridge_sender_stopped", ring=self.ring_name,
                      sent=int(self.words[W_RECORDS_OUT]), resent=self.out.resent_records)
        self.sock.close(linger=0)
        self.zctx.term()
        self.reader.close()
