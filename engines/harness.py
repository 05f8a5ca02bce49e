"""Drive a shipped engine in this process over real rings and sockets (tests, notebooks).

`Harness` creates the rings and a status slot, builds the EngineContext the runner would,
and leaves driving (`engine.poll()`) to the caller; closing removes every segment.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from types import MappingProxyType, TracebackType

from engines.base import Engine, EngineContext
from engines.log import get_logger
from engines.runner import load_engine_class
from engines.spec import EngineConfig
from engines.statedir import StateDir
from shm.layout import RECORDS
from shm.ring import Ring, RingReader, RingWriter
from shm.status import StatusTable


class Harness:
    """Rings by name -> (record, policy, capacity); the engine reads `reads`, writes `writes`.
    Rings named in `latest` keep a latest-value board of `latest_slots` symbols."""

    def __init__(self, shm_dir: Path, runtime_dir: Path,
                 rings: dict[str, tuple[str, str, int]], latest: tuple[str, ...] = (),
                 latest_slots: int = 2, state_dir: Path | None = None) -> None:
        self.shm_dir, self.runtime_dir = shm_dir, runtime_dir
        # Kept apart from the runtime dir as under nautilusd; pass the same one to a second
        # harness to play a restart that lost every ring but kept the state.
        self.state_dir = StateDir.create(state_dir or runtime_dir / "state").path
        self.prefix = f"nautilusd.h{uuid.uuid4().hex[:8]}."
        self.rings = {name: Ring.create(self.prefix + name, RECORDS[rec], cap, policy,
                                        directory=shm_dir, readers=2,
                                        latest_slots=latest_slots if name in latest else 0)
                      for name, (rec, policy, cap) in rings.items()}
        self.status = StatusTable.create(self.prefix + "status", 4, directory=shm_dir)
        self.contexts: list[EngineContext] = []
        self.bus_pub = f"ipc://{runtime_dir}/h-bus-in.sock"
        self.bus_sub = f"ipc://{runtime_dir}/h-bus-out.sock"

    def writer(self, ring: str) -> RingWriter:
        return RingWriter.attach(self.prefix + ring, self.rings[ring].dtype, self.shm_dir)

    def reader(self, ring: str, index: int = 1) -> RingReader:
        """A second reader (slot 1) next to the engine's (slot 0), for checking output."""
        return RingReader.attach(self.prefix + ring, self.rings[ring].dtype, index,
                                 self.shm_dir)

    def engine(self, entry: str, name: str, reads: tuple[str, ...], writes: tuple[str, ...],
               symbols: tuple[str, ...] = ("A", "B"), **params: object) -> Engine:
        """A started engine (on_start done), as the runner would have it."""
        cfg = EngineConfig(name=name, entry=entry, params=MappingProxyType(params))
        slot = self.status.slot(len(self.contexts) % self.status.slots)
        slot.reset(name)
        ctx = EngineContext(
            name=name, config=cfg, params=cfg.params, symbols=symbols,
            log=get_logger(engine=name), status=slot,
            readers={r: RingReader.attach(self.prefix + r, self.rings[r].dtype, 0,
                                          self.shm_dir) for r in reads},
            writers={w: self.writer(w) for w in writes},
            bus_pub_endpoint=self.bus_pub, bus_sub_endpoint=self.bus_sub,
            runtime_dir=self.runtime_dir, state_dir=self.state_dir)
        self.contexts.append(ctx)
        eng = load_engine_class(entry)(ctx)
        eng.on_start()
        return eng

    @staticmethod
    def poll(eng: Engine) -> int:
        """One turn of the runner's loop without its wait: poll(), and after a busy poll the
        engine's overdue idle work (Engine.overdue_ns, as engines.runner calls it)."""
        n = eng.poll()
        if n:
            now = time.monotonic_ns()
            if now >= eng.overdue_ns:
                eng.on_overdue(now)
        return n

    def stop(self, eng: Engine) -> None:
        """Drain and close as the runner does after SIGTERM."""
        eng.on_stop()
        eng.ctx.close()
        self.contexts.remove(eng.ctx)

    def close(self) -> None:
        for ctx in self.contexts:
            ctx.close()
        for ring in self.rings.values():
            ring.destroy()
        self.status.close()
        self.status.segment.unlink()

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
