"""An audit reader for tests and post-mortems: copies every record of its rings to .npy files.

Add it as a reader of the rings to audit (block rings then lose nothing); it rewrites
`<runtime_dir>/<out_dir>/<ring>.npy` every `flush_interval_s` and at stop.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from engines.base import Engine
from engines.params import parse_params
from engines.wiring import Every
from shm.status import W_RECORDS_IN


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditParams:
    out_dir: str = "audit"
    flush_interval_s: float = 0.5


class AuditEngine(Engine):
    params_spec = AuditParams

    def on_start(self) -> None:
        self.p = parse_params(AuditParams, self.ctx.params,
                              f"engines.{self.ctx.name}.params")
        self.out = self.ctx.runtime_dir / self.p.out_dir
        self.out.mkdir(parents=True, exist_ok=True)
        self.kept: dict[str, list[np.ndarray]] = {name: [] for name in self.ctx.readers}
        self.timer = Every(self.p.flush_interval_s)
        self.dirty = False

    def poll(self) -> int:
        n = 0
        for name, reader in self.ctx.readers.items():
            batch = reader.read(65_536)
            if batch.shape[0]:
                self.kept[name].append(batch.copy())
                reader.advance(batch.shape[0])
                n += batch.shape[0]
        if n:
            self.ctx.status.add(W_RECORDS_IN, n)
            self.dirty = True
        elif self.dirty and self.timer.due(time.monotonic_ns()):
            self.flush()
        return n

    def flush(self) -> None:
        for name, parts in self.kept.items():
            if len(parts) > 1:
                parts[:] = [np.concatenate(parts)]
            data = parts[0] if parts else np.zeros(0, self.ctx.readers[name].dtype)
            tmp = self.out / f".{name}.npy"
            np.save(tmp, data)
            os.replace(tmp, self.out / f"{name}.npy")
        self.dirty = False

    def next_wakeup_s(self) -> float | None:
        return self.timer.seconds_left(time.monotonic_ns()) if self.dirty else None

    def on_stop(self) -> None:
        while self.poll():
            pass
        self.flush()
