"""Fakes for the supervisor's pure-logic tests: a settable clock, a Host without processes.

Only for logic: everything the real Host does is tested with real processes in integration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from types import MappingProxyType
from typing import Any

from engines.spec import EngineConfig
from nautilusd.config.model import GroupConfig, GroupStrategy, SupervisorConfig, Topology
from shm.status import SLOT_BYTES, W_HEARTBEAT_NS, W_READY, StatusSlot


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakeTable:
    """A status table in process memory (same slot layout as the shm one)."""

    def __init__(self, slots: int = 16) -> None:
        self.slots = slots
        self._buf = bytearray(slots * SLOT_BYTES)
        self._slots = {}

    def slot(self, index: int) -> StatusSlot:
        if index not in self._slots:
            view = memoryview(self._buf)[index * SLOT_BYTES : (index + 1) * SLOT_BYTES]
            self._slots[index] = StatusSlot(view, index)
        return self._slots[index]


class FakeHost:
    """Records spawns and signals; a test ends a process with `exit(pid, code)`."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.next_pid = 1000
        self.alive: dict[int, Any] = {}  # pid -> (spec, on_exit)
        self.spawned: list[tuple[str, int]] = []
        self.signals: list[tuple[int, int]] = []
        self.rss: dict[int, int] = {}

    def now(self) -> float:
        return self.clock()

    def monotonic_ns(self) -> int:
        return int(self.clock() * 1e9)

    def spawn(self, spec: Any, on_exit: Any) -> int:
        self.next_pid += 1
        self.alive[self.next_pid] = (spec, on_exit)
        self.spawned.append((spec.name, self.next_pid))
        return self.next_pid

    def exit(self, pid: int, code: int) -> None:
        _, on_exit = self.alive.pop(pid)
        on_exit(code)

    def adopt_process(self, pid: int, start_ticks: int, version: str | None,
                      on_exit: Any) -> bool:
        if pid not in self.alive:
            return False
        self.alive[pid] = (self.alive[pid][0], on_exit)
        return True

    generation = 0

    def new_generation(self, on_ready: Callable[[int], object],
                       on_failed: Callable[[str], object]) -> int:
        self.generation += 1
        on_ready(self.generation)  # at once: the real one says hello from the loop
        return self.generation

    def pin_generation(self, name: str, generation: int | None) -> None:
        pass

    def generation_of(self, pid: int) -> int | None:
        return self.generation if pid in self.alive else None

    def retired_generations(self) -> list[int]:
        return []

    def code_version(self, pid: int) -> str | None:
        return f"0.0.0+fake{pid}" if pid in self.alive else None

    def signal(self, pid: int, sig: int) -> bool:
        self.signals.append((pid, sig))
        return pid in self.alive

    def rss_bytes(self, pid: int) -> int | None:
        return self.rss.get(pid)

    def affinity(self, pid: int) -> list[int]:
        return [0, 1]

    def pin(self, pid: int, cpus: Iterable[int]) -> list[int]:
        return sorted(cpus)

    def host_cpus(self) -> list[int]:
        return [0, 1]

    def close(self) -> None:
        pass

    def pids_of(self, name: str) -> list[int]:
        return [pid for n, pid in self.spawned if n == name]


def topology(*engines: EngineConfig, groups: Iterable[GroupConfig] = (),
             supervisor: SupervisorConfig | None = None) -> Topology:
    return Topology(
        source=Path("test.toml"), supervisor=supervisor or SupervisorConfig(),
        groups=MappingProxyType({g.name: g for g in groups}), rings=MappingProxyType({}),
        engines=MappingProxyType({e.name: e for e in engines}),
    )


def engine(name: str, **kw: Any) -> EngineConfig:
    kw.setdefault("entry", "engines.reference:ReferenceEngine")
    kw.setdefault("backoff_jitter", 0.0)
    return EngineConfig(name=name, **kw)


def group(name: str, strategy: str, critical: bool = False) -> GroupConfig:
    return GroupConfig(name=name, strategy=GroupStrategy(strategy), critical=critical)


def report_ready(slot: StatusSlot, clock: FakeClock) -> None:
    """What the runner does once on_start returned."""
    slot.put(W_HEARTBEAT_NS, int(clock() * 1e9))
    slot.put(W_READY, 1)
