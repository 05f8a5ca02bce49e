"""A small test rig for the pipeline bench: rings, a status table and engine processes.

It wires engines exactly as nautilusd would (same LaunchSpec, same runner, real processes,
real rings) without the daemon, so a bench measures the engines and the transport alone.
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import MappingProxyType, TracebackType

from engines.runner import LaunchSpec
from engines.runner import run as run_engine
from engines.spec import EngineConfig, RingConfig, SpinKind
from engines.statedir import StateDir
from nautilusd.forkserver import apply_nice
from nautilusd.paths import scratch_id
from nautilusd.ringset import latest_slots
from shm import Policy, WaitKind
from shm.layout import RECORDS
from shm.ring import Ring
from shm.status import W_READY, StatusSlot, StatusTable


@dataclass(frozen=True, slots=True)
class Tuning:
    """How one critical-path engine waits and where it runs, as a topology has it."""

    wait: str = "blocking"
    spin_us: int | None = None
    cpus: tuple[int, ...] = ()
    hot: bool = False  # spin = "hot"
    nice: int | None = None
    wake_on_ticks: bool = False  # risk and execution: do ticks wake them (params)

    def label(self) -> str:
        spin = f"/spin {self.spin_us} us" if self.spin_us is not None else ""
        spin += " hot" if self.hot else ""
        spin += f"/nice {self.nice}" if self.nice is not None else ""
        cpus = f"/cpus {','.join(map(str, self.cpus))}" if self.cpus else ""
        ticks = "/ticks wake" if self.wake_on_ticks else ""
        return f"{self.wait}{spin}{cpus}{ticks}"


def engine(name: str, entry: str, tuning: Tuning | str = "blocking", **params: object
           ) -> EngineConfig:
    """An engine config; `tuning` gives its wait, spin budget, cores and tick wake-ups."""
    t = Tuning(tuning) if isinstance(tuning, str) else tuning
    if name in ("risk", "execution"):
        params = {"wake_on_ticks": t.wake_on_ticks, **params}
    return EngineConfig(name=name, entry=entry, wait=WaitKind(t.wait), spin_us=t.spin_us,
                        spin=SpinKind.HOT if t.hot else SpinKind.YIELD, nice=t.nice,
                        cpus=t.cpus, params=MappingProxyType(params))


def ring(name: str, record: str, writer: str, readers: tuple[str, ...], capacity: int = 4096,
         policy: str = "block", latest: bool = False) -> RingConfig:
    return RingConfig(name=name, record=record, capacity=capacity, policy=Policy.parse(policy),
                      writer=writer, readers=readers, latest=latest)


def _child(spec: LaunchSpec) -> None:
    if spec.config.nice is not None:  # as nautilusd's forkserver does
        apply_nice(spec.config.nice)
    os._exit(run_engine(spec))


class Rig:
    """Owns the segments and the processes; a context manager that leaves nothing behind."""

    def __init__(self, shm_dir: Path, runtime_dir: Path, symbols: tuple[str, ...],
                 rings: list[RingConfig], engines: list[EngineConfig],
                 state_dir: Path | None = None) -> None:
        self.shm_dir, self.runtime_dir, self.symbols = shm_dir, runtime_dir, symbols
        self.prefix = f"nautilusd.bench{scratch_id(8)}."
        self.rings = {r.name: r for r in rings}
        self.engines = {e.name: e for e in engines}
        self.status = StatusTable.create(self.prefix + "status", 16, directory=shm_dir)
        self.segments: dict[str, Ring] = {}
        for r in rings:
            self.segments[r.name] = Ring.create(
                self.prefix + r.name, RECORDS[r.record], r.capacity, r.policy,
                directory=shm_dir, block_timeout_ms=r.block_timeout_ms, readers=len(r.readers),
                latest_slots=latest_slots(r, symbols))
        self.procs: dict[str, BaseProcess] = {}
        # private to this run (or the caller's: the journal bench puts it on a real disk)
        self.state_dir = StateDir.create(state_dir or runtime_dir / "state").path
        self._mp = multiprocessing.get_context("fork")

    def segment(self, ring_name: str) -> str:
        return self.prefix + ring_name

    def spec(self, name: str, cpus: tuple[int, ...] = ()) -> LaunchSpec:
        cfg = self.engines[name]
        mine = tuple(r for r in self.rings.values() if r.writer == name or name in r.readers)
        slot = list(self.engines).index(name)
        self.status.slot(slot).reset(name)
        return LaunchSpec(
            name=name, config=cfg, cpus=cpus, slot=slot,
            status_segment=self.prefix + "status", shm_dir=str(self.shm_dir), rings=mine,
            ring_segments={r.name: self.prefix + r.name for r in mine}, symbols=self.symbols,
            bus_pub_endpoint=f"ipc://{self.runtime_dir}/bus-in.sock",
            bus_sub_endpoint=f"ipc://{self.runtime_dir}/bus-out.sock",
            runtime_dir=str(self.runtime_dir), state_dir=str(self.state_dir),
            log_format="json", log_level="error")

    def start(self, name: str) -> None:
        spec = self.spec(name, self.engines[name].cpus)
        proc = self._mp.Process(target=_child, args=(spec,), name=name, daemon=True)
        proc.start()
        self.procs[name] = proc

    def slot(self, name: str) -> StatusSlot:
        return self.status.slot(list(self.engines).index(name))

    def ready(self, name: str) -> bool:
        return self.slot(name).get(W_READY) == 1

    def stop(self, timeout_s: float = 5.0) -> dict[str, int | None]:
        """SIGTERM every engine (reverse start order), wait, SIGKILL stragglers; exit codes."""
        for proc in reversed(list(self.procs.values())):
            if proc.is_alive():
                proc.terminate()  # SIGTERM: the engine drains and exits 0
        codes = {}
        for name, proc in self.procs.items():
            proc.join(timeout_s)
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)
            codes[name] = proc.exitcode
        self.procs.clear()
        return codes

    def close(self) -> None:
        self.stop()
        for seg in self.segments.values():
            seg.destroy()
        self.segments.clear()
        self.status.close()
        self.status.segment.unlink()

    def __enter__(self) -> Rig:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
