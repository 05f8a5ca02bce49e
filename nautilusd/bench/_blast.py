"""A bench-only engine: raw64 records at a fixed rate in large batches, for the bridge's
throughput (market data's feed model costs more per record than a bridge does)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from engines.base import Engine
from engines.params import param, parse_params
from shm.status import W_RECORDS_OUT


@dataclass(frozen=True, kw_only=True, slots=True)
class BlastParams:
    rate_per_s: float = param(2_000_000.0, unit="records/s", min=1)
    max_batch: int = param(8192, unit="records", min=1)


class BlastEngine(Engine):
    """Writes its one ring: record i carries i in its first 8 bytes."""

    params_spec = BlastParams

    def on_start(self) -> None:
        self.p = parse_params(BlastParams, self.ctx.params, f"engines.{self.ctx.name}.params")
        self.writer = next(iter(self.ctx.writers.values()))
        self.start_ns = time.monotonic_ns()
        self.sent = 0

    def poll(self) -> int:
        due = int((time.monotonic_ns() - self.start_ns) * 1e-9 * self.p.rate_per_s) - self.sent
        n = min(due, self.p.max_batch, self.writer.capacity)
        if n <= 0:
            return 0
        view = self.writer.claim(n)
        view.view(np.uint8).reshape(n, -1)[:, :8] = np.arange(
            self.sent, self.sent + n, dtype="<u8").view(np.uint8).reshape(n, 8)
        self.writer.publish()
        self.sent += n
        self.ctx.status.add(W_RECORDS_OUT, n)
        return n

    def next_wakeup_s(self) -> float | None:
        return 0.001
