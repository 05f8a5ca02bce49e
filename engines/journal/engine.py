"""The journal engine: a `block` reader of every order, decision and fill ring it is given,
appending each record to the state dir's journal with group commit, and the kill switch's
changes from the bus as operator actions.

A batch is committed to the file (and fsynced, with fsync = "batch") before the ring cursor
moves, so a record the writer may overwrite is always in the journal first.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from engines.base import Engine
from engines.journal._replay import KIND_DECISION, KIND_FILL, KIND_ORDER
from engines.journal._segments import Fsync, SegmentWriter
from engines.params import ParamError, param, parse_params
from engines.wiring import quiet
from shm.layout import DECISION, FILL, ORDER
from shm.status import W_CUSTOM0, W_RECORDS_IN, W_RECORDS_OUT

# Record kinds in the journal: one per record layout, then operator actions (msgpack maps).
KIND_ACTION = 16  # the record layouts' kinds are engines.journal._replay's
KINDS = {ORDER: KIND_ORDER, DECISION: KIND_DECISION, FILL: KIND_FILL}
ACTION_TOPICS = ("risk.alerts.kill_switch",)
W_FSYNCS = W_CUSTOM0
W_REPAIRED_BYTES = W_CUSTOM0 + 1


@dataclass(frozen=True, kw_only=True, slots=True)
class JournalParams:
    # batch: every group of records is fsynced before the rings move on (durable at once);
    # interval: fsynced at most fsync_interval_ms later (a power cut loses that much);
    # none: written, left to the page cache (a crash of any process loses nothing, a power
    # cut what the kernel had not written back)
    fsync: str = param("batch", choices=("batch", "interval", "none"))
    fsync_interval_ms: float = 50.0
    segment_mb: int = 64
    max_batch: int = 4_096
    # An off-path reader: the rings are read in batches every read_interval_ms (records
    # never wake it, so it takes no wake-up, and no core, from the order path per record);
    # 0: woken by every record. A block ring holds far more than one interval's records.
    # 10 ms: on 2 shared cores, `bench journal` (ABBA pairs, quiet host) put the order
    # path's tick-to-fill p50 with the journal at 0.99-1.05x of without it; every 2 ms it was
    # 1.24-1.30x, every 5 ms 1.37-1.47x (each look takes its core from the order path).
    read_interval_ms: float = 10.0
    # SCHED_BATCH: the scheduler treats it as a batch job (no wake-up preemption of the
    # order path on a shared core); it still gets its share, so the rings never wait long.
    sched_batch: bool = True


class JournalEngine(Engine):
    """Reads orders, decisions and fills rings; appends them to `<state_dir>/journal/`."""

    params_spec = JournalParams  # check validates them (fsync's choices) before a start
    counters = ("fsyncs", "repaired_bytes")

    def on_start(self) -> None:
        self.p = parse_params(JournalParams, self.ctx.params, f"engines.{self.ctx.name}")
        try:
            policy = Fsync(self.p.fsync)
        except ValueError:
            raise ParamError(f"engines.{self.ctx.name}.params.fsync: not one of batch, "
                             f"interval, none: {self.p.fsync!r}") from None
        # Downstream first (fills, decisions, orders): a fill read now had its decision and
        # order published before, so they are in this commit or an earlier one; a journal
        # cut anywhere never holds a fill without its decision, or a decision without its order.
        self.rings = sorted(((r, KINDS[r.dtype]) for r in self.ctx.readers.values()
                             if r.dtype in KINDS), key=lambda ring: -ring[1])
        self.interval_s = self.p.read_interval_ms / 1e3
        if self.interval_s > 0:
            for ring, _kind in self.rings:
                quiet(self.ctx, ring)  # read on the timer; closed in on_stop
        if self.p.sched_batch:
            self._sched_batch()
        self.writer = SegmentWriter(self.ctx.state, policy, self.p.segment_mb << 20,
                                    self.p.fsync_interval_ms / 1e3)
        self.ctx.status.put(W_REPAIRED_BYTES, self.writer.repaired_bytes)
        if self.writer.repaired_bytes:
            self.log.warning("journal_repaired", truncated_bytes=self.writer.repaired_bytes)
        self.actions = self.ctx.subscriber(list(ACTION_TOPICS))

    def poll(self) -> int:
        done, taken = 0, []
        for ring, kind in self.rings:
            batch: np.ndarray = ring.read(self.p.max_batch)
            n = int(batch.shape[0])
            if n:
                self.writer.append_many(kind, batch.view(np.uint8).data,
                                        batch.dtype.itemsize)
                taken.append((ring, n))
                done += n
        done += self._actions()
        if done:
            self.writer.commit()  # one write and (batch) one fsync for everything taken
            for ring, n in taken:
                ring.advance(n)
            status = self.ctx.status
            status.add(W_RECORDS_IN, done)
            status.add(W_RECORDS_OUT, done)
            status.put(W_FSYNCS, self.writer.fsyncs)
        return done

    def _sched_batch(self) -> None:
        try:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        except (OSError, AttributeError) as exc:  # not Linux, or refused: run as it is
            self.log.warning("journal_sched_batch_refused", error=str(exc))

    def next_wakeup_s(self) -> float | None:
        return self.interval_s if self.interval_s > 0 else None

    def _actions(self) -> int:
        n = 0
        while (msg := self.actions.recv(0)) is not None:
            topic, body = msg
            doc: dict[str, Any] = {"topic": topic, "ts_ns": time.time_ns(), "body": body}
            self.writer.append(KIND_ACTION, msgpack.packb(doc, default=str))
            n += 1
        return n

    def wait_handles(self) -> list[Any]:
        return [self.actions.socket]

    def on_stop(self) -> None:
        while self.poll():
            pass
        self.writer.close()
        if self.interval_s > 0:
            for ring, _kind in self.rings:
                ring.close()
