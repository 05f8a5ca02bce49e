"""A minimal engine for tests and benchmarks whose misbehaviour is chosen by its params.

Params (all optional): ready_delay_s (slow on_start), crash_after_s (os._exit(crash_code)),
exit_after_s + exit_code (clean exit), hang_after_s (stop heartbeating: sleeps forever),
allocate_mb (resident memory held from on_start), grow_mb_per_s (RSS growth), drain_s (slow
on_stop), forward (consume every record from its reader rings, copying them to its writer
rings), produce_per_s (publish that many zeroed records per second to its writer rings).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from engines.base import Engine
from engines.params import param
from shm.status import W_RECORDS_IN, W_RECORDS_OUT


@dataclass(frozen=True, kw_only=True, slots=True)
class ReferenceParams:
    """What `nautilusd check` accepts for the reference engine (it reads ctx.params itself)."""

    ready_delay_s: float | None = param(None, unit="s", min=0)
    crash_after_s: float | None = param(None, unit="s", min=0)
    crash_code: int = param(3, min=0, max=255)
    exit_after_s: float | None = param(None, unit="s", min=0)
    exit_code: int = param(0, min=0, max=255)
    hang_after_s: float | None = param(None, unit="s", min=0)
    allocate_mb: float | None = param(None, unit="MB", min=0)
    grow_mb_per_s: float = param(0.0, unit="MB/s", min=0)
    drain_s: float | None = param(None, unit="s", min=0)
    forward: bool = False
    produce_per_s: float = param(0.0, unit="records/s", min=0)


class ReferenceEngine(Engine):
    """Does nothing useful, on purpose, in every way a real engine can go wrong."""

    params_spec = ReferenceParams

    def on_start(self) -> None:
        p = self.ctx.params
        self.started = time.monotonic()
        self.hold: list[bytearray] = []
        if p.get("ready_delay_s"):
            time.sleep(float(p["ready_delay_s"]))
        if p.get("allocate_mb"):
            self._allocate(float(p["allocate_mb"]))
        self.deadlines = sorted(
            (float(p[key]), key)
            for key in ("crash_after_s", "exit_after_s", "hang_after_s")
            if p.get(key) is not None
        )
        self.grow_mb_per_s = float(p.get("grow_mb_per_s", 0))
        self.grown_mb = 0.0
        self.produce_per_s = float(p.get("produce_per_s", 0))
        self.produced = 0
        self.log.info("reference_engine_started", params=dict(p))

    def _allocate(self, mb: float) -> None:
        block = bytearray(int(mb * 1024 * 1024))
        block[::4096] = b"\x01" * len(block[::4096])  # touch every page: make it resident
        self.hold.append(block)

    def poll(self) -> int:
        elapsed = time.monotonic() - self.started
        if self.deadlines and elapsed >= self.deadlines[0][0]:
            self._act(self.deadlines[0][1])
        if self.grow_mb_per_s and elapsed * self.grow_mb_per_s > self.grown_mb + 1:
            self._allocate(1.0)
            self.grown_mb += 1
        moved = self._produce(elapsed) if self.produce_per_s else 0
        return moved + (self._forward() if self.ctx.params.get("forward") else 0)

    def _produce(self, elapsed: float) -> int:
        due = min(256, int(elapsed * self.produce_per_s) - self.produced)
        if due <= 0:
            return 0
        for writer in self.ctx.writers.values():
            view = writer.try_claim(due)
            if view is None:
                return 0  # full: a block ring's reader is behind; try again next poll
            writer.publish()
        self.produced += due
        self.ctx.status.add(W_RECORDS_OUT, due)
        return due

    def _act(self, what: str) -> None:
        p = self.ctx.params
        if what == "crash_after_s":
            os._exit(int(p.get("crash_code", 3)))
        if what == "exit_after_s":
            os._exit(int(p.get("exit_code", 0)))
        self.log.warning("reference_engine_hanging")
        while True:  # a hang: no heartbeat from here on
            time.sleep(3600)

    def _forward(self) -> int:
        moved = 0
        for reader in self.ctx.readers.values():
            batch = reader.read(256)
            if len(batch):
                for writer in self.ctx.writers.values():
                    writer.write(batch)
                reader.advance(len(batch))
                moved += len(batch)
                self.ctx.status.add(W_RECORDS_IN, len(batch))
        return moved

    def next_wakeup_s(self) -> float | None:
        if self.produce_per_s:
            return 1.0 / self.produce_per_s
        if self.grow_mb_per_s:
            return 0.05
        if not self.deadlines:
            return None
        return max(0.0, self.deadlines[0][0] - (time.monotonic() - self.started))

    def on_stop(self) -> None:
        if self.ctx.params.get("drain_s"):
            time.sleep(float(self.ctx.params["drain_s"]))
        self.log.info("reference_engine_drained")
