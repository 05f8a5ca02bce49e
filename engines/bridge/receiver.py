"""The receiving half of a ring bridge: binds a CURVE socket, writes a peer's records into the
local ring of the same layout (its only writer), in the sender's sequence.

Only the named peer's public key is admitted (ZAP, engines.bridge.zap); others are refused
and counted. A batch past the expected position is a gap: on a `block` ring it asks for a
resend, on an `overwrite` ring it is counted (engines.bridge._sequence). A full `block` ring
stops reading the socket, so back-pressure reaches the sender instead of records dropping.
Where it resumes after a restart (its own, its daemon's with the rings kept) comes from its
ring's cursor and the mark beside it (engines.bridge._resume): exactly once, across kills.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import zmq

from engines.base import Engine, Pollable
from engines.bridge import _wire as wire
from engines.bridge._link import ZAP_DOMAIN, bridge_socket, bridged_ring, peer_of
from engines.bridge._resume import LAYOUT, ResumeMark, ring_identity
from engines.bridge._sequence import Inbound, Verdict
from engines.bridge.keys import check_public_key, curve_server, load_keypair
from engines.bridge.zap import ZapHandler
from engines.params import param, parse_params
from engines.persist import StateFile
from shm import Policy, RingWriter
from shm.layout import RECORDS, fingerprint
from shm.status import W_CUSTOM0, W_DROPPED, W_ERRORS, W_RECORDS_IN

LINK_UP, GAP_RECORDS, LOST, REFUSED, DUPLICATES = range(W_CUSTOM0, W_CUSTOM0 + 5)
_Pending = tuple[wire.Header, Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class RingReceiverParams:
    peer: str = ""  # required: the [[peers]] name of the sending host (its key is admitted)
    port: int = param(0, min=0, max=65535)  # required: the port to bind
    bind: str = "0.0.0.0"  # the address to bind
    record: str = param("", choices=("", *RECORDS))  # the ring's layout, as a check
    link_timeout_ms: int = param(1000, unit="ms", min=10)
    hello_ms: int = param(100, unit="ms", min=1)
    ack_ms: int = param(20, unit="ms", min=1)


class RingReceiverEngine(Engine):
    """Writes what the peer's RingSenderEngine sends into its one writer ring."""

    counters = ("link_up", "gap_records", "lost", "refused", "duplicates")
    params_spec = RingReceiverParams

    def on_start(self) -> None:
        ctx = self.ctx
        p = self.p = parse_params(RingReceiverParams, ctx.params, f"engines.{ctx.name}.params")
        peer = peer_of(ctx, p.peer, p.port)
        self.ring_name, writer = bridged_ring(ctx.name, ctx.writers, RingWriter, p.record,
                                              "a ring receiver writes")
        self.writer: RingWriter = writer
        self.dtype = self.writer.dtype
        self.block = writer.policy is Policy.BLOCK
        self.fingerprint = fingerprint(self.dtype)
        self.inbound = self._resume_point()
        public, secret = load_keypair(ctx.state_dir)
        self.zctx: zmq.Context[Any] = zmq.Context()
        self.zap = ZapHandler(self.zctx, [check_public_key(
            peer.public_key, f"[[peers]] {peer.name}.public_key")])
        self.sock = bridge_socket(self.zctx, p.link_timeout_ms)
        curve_server(self.sock, secret, public, ZAP_DOMAIN)
        self.endpoint = f"tcp://{p.bind}:{p.port}"
        self.sock.bind(self.endpoint)
        self.pending: _Pending | None = None
        self.heard_ns = self.hello_ns = self.ack_ns = 0
        self.acked = -1
        self.words = ctx.status.words
        self.log.info("bridge_receiver_started", ring=self.ring_name, endpoint=self.endpoint,
                      peer=peer.name, policy="block" if self.block else "overwrite",
                      resume_at=self.inbound.resume_at)

    def _resume_point(self) -> Inbound:
        """Inbound positioned where this ring's records end (nothing known: afresh). A ring
        holding records with no mark of its own to map them is said, not papered over."""
        self.mark_file = StateFile(self.ctx.state, f"{self.ctx.name}.resume", LAYOUT)
        self.mark = ResumeMark(self.mark_file.arrays["mark"], ring_identity(self.writer))
        found = self.mark.resume(self.writer.cursor)
        if found is None:
            if self.writer.cursor:
                self.log.warning("bridge_resume_unknown", ring=self.ring_name,
                                 cursor=self.writer.cursor, mark=self.mark_file.status.value)
            return Inbound(self.block)
        return Inbound(self.block, found.stream, found.expected)

    def wait_handles(self) -> list[Pollable]:
        return [self.sock, self.zap.socket]

    def poll(self) -> int:
        now = time.monotonic_ns()
        if self.zap.handle():
            self.words[REFUSED] = self.zap.refused
            if self.zap.refused and self.zap.last_refused_key:
                self.log.warning("bridge_peer_refused", address=self.zap.last_refused_address,
                                 key=self.zap.last_refused_key, refused=self.zap.refused)
        written = 0
        if self.pending is not None:
            written = self._write_pending()
        handled = 0
        while self.pending is None and handled < 64:
            try:
                frames = self.sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            handled += 1
            self.heard_ns = now
            written += self._on_frames(frames, now)
        self._maintain(now)
        self.words[W_RECORDS_IN] += written
        return handled + written

    def _on_frames(self, frames: list[Any], now: int) -> int:
        try:
            msg = wire.unpack(frames[0].buffer)
        except wire.WireError as exc:
            self.ctx.status.add(W_ERRORS)
            self.log.warning("bridge_bad_message", error=str(exc))
            return 0
        if msg.kind is wire.Kind.DATA and len(frames) == 2:
            return self._on_data(msg, frames[1].buffer)
        if msg.kind is wire.Kind.LOST:
            self.inbound.on_lost(msg.first, msg.count, msg.stream)
            self.words[LOST] = self.inbound.lost_records
            self.log.warning("bridge_records_lost", ring=self.ring_name, first=msg.first,
                             count=msg.count)
        elif msg.kind is wire.Kind.REFUSE:
            self.words[REFUSED] += 1
            self.log.error("bridge_schema_mismatch", ring=self.ring_name,
                           ours=self.fingerprint, theirs=msg.fingerprint,
                           record_size=self.dtype.itemsize, their_record_size=msg.count)
        elif msg.kind is wire.Kind.HEARTBEAT and (
                not self.inbound.started or msg.flags & wire.FLAG_START):
            self._hello(now)  # a sender that (re)started asks where to begin
        return 0

    def _on_data(self, msg: wire.Header, payload: Any) -> int:
        if msg.count * self.dtype.itemsize != len(payload) or msg.fingerprint != self.fingerprint:
            self.ctx.status.add(W_ERRORS)
            return 0
        if self.block and self.inbound.started and not self.writer.has_room(msg.count):
            self.pending = (msg, payload)  # stop reading: the link carries the back-pressure
            return 0
        inbound = self.inbound
        outcome = inbound.on_batch(msg.first, msg.count, bool(msg.flags & wire.FLAG_START),
                                   msg.stream)
        if outcome.verdict is Verdict.RESEND:
            self._send(wire.Kind.NACK, self.inbound.expected or 0, stream=inbound.stream)
            self.words[W_DROPPED] = self.inbound.gaps
            return 0
        if outcome.verdict is Verdict.DROP:
            self.words[DUPLICATES] = self.inbound.duplicates
            return 0
        if outcome.gap:
            self.words[GAP_RECORDS] = self.inbound.gap_records
            self.words[W_DROPPED] = self.inbound.gaps
        records = np.frombuffer(payload, dtype=self.dtype)[outcome.skip:]
        # the mark first, then the records: a kill between them loses nothing, repeats nothing
        self.mark.before_write(inbound.stream, msg.first + outcome.skip, self.writer.cursor)
        self.writer.write(records)
        return len(records)

    def _write_pending(self) -> int:
        msg, payload = self.pending  # type: ignore[misc]
        if not self.writer.has_room(msg.count):
            return 0
        self.pending = None
        return self._on_data(msg, payload)

    def _maintain(self, now: int) -> None:
        self.words[LINK_UP] = 1 if now - self.heard_ns < self.p.link_timeout_ms * 1_000_000 \
            else 0
        expected = self.inbound.expected
        if not self.inbound.started or expected is None:
            if now - self.hello_ns >= self.p.hello_ms * 1_000_000:
                self._hello(now)
            return
        due = expected != self.acked or now - self.ack_ns >= self.p.ack_ms * 1_000_000
        if due and self._send(wire.Kind.ACK, expected, stream=self.inbound.stream):
            self.acked, self.ack_ns = expected, now

    def _hello(self, now: int) -> None:
        self.hello_ns = now
        self._send(wire.Kind.HELLO, self.inbound.resume_at, self.dtype.itemsize,
                   self.fingerprint, self.inbound.stream)

    def _send(self, kind: wire.Kind, first: int, count: int = 0, fp: int = 0,
              stream: int = 0) -> bool:
        try:
            self.sock.send(wire.pack(kind, first, count, fp, 0, stream), zmq.NOBLOCK)
        except zmq.Again:
            return False
        return True

    def next_wakeup_s(self) -> float | None:
        if self.pending is not None:
            return 0.001  # a full block ring: look again soon for room
        return min(self.p.ack_ms, self.p.hello_ms) * 1e-3

    def on_stop(self) -> None:
        self.log.info("bridge_receiver_stopped", ring=self.ring_name,
                      written=int(self.words[W_RECORDS_IN]), gaps=self.inbound.gaps,
                      lost=self.inbound.lost_records, refused=self.zap.refused,
                      resume_at=self.inbound.resume_at)
        self.mark_file.flush()
        self.sock.close(linger=0)
        self.zap.close()
        self.zctx.term()
