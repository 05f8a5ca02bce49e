"""The child side of an engine: pin first, attach status slot and rings, report ready, run, drain.

`run(spec)` is called in the forked child (nautilusd.forkserver) and returns the exit code;
SIGTERM becomes a graceful drain (on_stop) and exit 0.
"""

from __future__ import annotations

import copyreg
import gc
import importlib
import os
import signal
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, MappingProxyType

from structlog.typing import FilteringBoundLogger

from engines.base import Engine, EngineContext
from engines.counters import check_names
from engines.idle import IdleWait
from engines.log import configure_logging, get_logger
from engines.params import ParamError
from engines.spec import EngineConfig, PeerConfig, RingConfig, SpinKind
from shm import Blocking, RingReader, RingWriter, WaitKind, make_wait
from shm.status import (
    PHASE_DRAINING,
    PHASE_READY,
    PHASE_STARTING,
    PHASE_STOPPED,
    SLOT_BYTES,
    W_HEARTBEAT_NS,
    W_STARTED_NS,
    StatusSlot,
    StatusTable,
)

# Exit codes of a child that failed before engine code ran (distinct from an engine's own).
EXIT_PIN_FAILED = 120
EXIT_SETUP_FAILED = 121
EXIT_ENGINE_FAILED = 122  # import, construction or on_start raised

# Config objects hold MappingProxyType (immutable maps); let them cross the pickle boundary.
def _mapping_proxy(items: dict[str, object]) -> MappingProxyType[str, object]:
    return MappingProxyType(items)


copyreg.pickle(MappingProxyType, lambda m: (_mapping_proxy, (dict(m),)))


@dataclass(frozen=True, kw_only=True, slots=True)
class LaunchSpec:
    """What a child needs to become engine instance `name` (sent pickled to the forkserver)."""

    name: str
    config: EngineConfig
    cpus: tuple[int, ...]  # resolved cores; () = leave the affinity alone
    slot: int
    status_segment: str
    shm_dir: str
    rings: tuple[RingConfig, ...] = ()  # rings this engine writes or reads
    ring_segments: dict[str, str] = field(default_factory=dict)  # ring name -> segment name
    symbols: tuple[str, ...] = ()
    bus_pub_endpoint: str = ""
    bus_sub_endpoint: str = ""
    runtime_dir: str = "."
    state_dir: str = "."  # the instance's state directory (0700, made by nautilusd)
    instance: str = "default"
    log_format: str = "auto"
    log_level: str = "info"
    ready_bell: str = ""  # FIFO to write one byte to once ready ("" = none: nautilusd polls)
    host: str = ""  # [fleet].host
    peers: tuple[PeerConfig, ...] = ()  # [[peers]]


class PinFailed(Exception):
    """The pin did not take or did not hold when read back."""


def pin(cpus: tuple[int, ...]) -> list[int]:
    """Pin this process to `cpus` and verify; raise PinFailed naming both sets. Called while
    the process has one thread (a fresh fork), so the calling thread is the process. Through
    sched_setaffinity itself: psutil's cpu_affinity cost ~0.9 ms in a fresh fork, on every
    restart's critical path."""
    try:
        os.sched_setaffinity(0, cpus)
        found = sorted(os.sched_getaffinity(0))
    except (OSError, ValueError, OverflowError) as exc:
        raise PinFailed(f"cannot pin pid {os.getpid()} to cpus {list(cpus)}: {exc}") from None
    if found != sorted(set(cpus)):
        raise PinFailed(f"pin of pid {os.getpid()} to cpus {list(cpus)} did not hold: {found}")
    return found


def load_engine_class(entry: str) -> type[Engine]:
    module_name, _, class_name = entry.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, Engine)):
        raise TypeError(f"entry {entry!r} is not an engines.base.Engine subclass")
    return cls


def run(spec: LaunchSpec, stop_requested: Callable[[], bool] = lambda: False,
        table: StatusTable | None = None, *, configured: bool = False,
        settle_nice: int | None = None) -> int:
    """Run engine instance `spec.name` to completion in this process; return the exit code.

    `stop_requested()` reports a SIGTERM that arrived before the runner's handler existed;
    `table` is the status table when a spare mapped it ahead (engines.spare), else attached;
    `configured`: the caller (the forkserver's child) already configured logging for this
    engine and pinned it, which is not done twice on the restart path; `settle_nice`: the
    start ran at a raised priority (nautilusd.forkserver.boost_start) and every thread takes
    this nice value once READY.
    """
    stop = _StopSignal()
    stop.requested = stop_requested()
    if not configured:
        configure_logging(spec.log_format, spec.log_level, instance=spec.instance,
                          engine=spec.name)
    log = get_logger(engine=spec.name)
    if spec.cpus and not configured:
        try:
            pin(spec.cpus)
        except PinFailed as exc:
            log.error("pin_failed", cpus=list(spec.cpus), error=str(exc))
            return EXIT_PIN_FAILED
    if table is None:
        table = StatusTable.attach(spec.status_segment, directory=spec.shm_dir)
    try:
        return _run_attached(spec, table, log, stop, settle_nice)
    finally:
        table.close()


def _run_attached(spec: LaunchSpec, table: StatusTable, log: FilteringBoundLogger,
                  stop: _StopSignal, settle_nice: int | None = None) -> int:
    slot = table.slot(spec.slot)
    slot.put(W_STARTED_NS, time.monotonic_ns())
    slot.heartbeat()
    slot.set_phase(PHASE_STARTING)
    ctx = EngineContext(
        name=spec.name, config=spec.config, params=spec.config.params, symbols=spec.symbols,
        log=log, status=slot, bus_pub_endpoint=spec.bus_pub_endpoint,
        bus_sub_endpoint=spec.bus_sub_endpoint, runtime_dir=Path(spec.runtime_dir),
        state_dir=Path(spec.state_dir), host=spec.host, peers={p.name: p for p in spec.peers},
    )
    try:
        _attach_rings(spec, ctx)
        cls = load_engine_class(spec.config.entry or "")
        check_names(cls.counters, f"{spec.config.entry}.counters")
        engine = cls(ctx)
        engine.on_start()
    except ParamError as exc:  # a config the engine cannot run: the message names it
        log.error("engine_start_failed", error=str(exc), reason="config")
        ctx.close()
        return EXIT_ENGINE_FAILED
    except Exception as exc:
        log.exception("engine_start_failed", error=str(exc))
        ctx.close()
        return EXIT_ENGINE_FAILED
    freeze_heap()
    slot.set_ready(True)
    slot.set_phase(PHASE_READY)
    slot.heartbeat()
    ring_ready_bell(spec.ready_bell)
    if settle_nice is not None:
        settle_priority(settle_nice, log)
    _Loop(engine, ctx, stop).run()
    slot.set_ready(False)
    slot.set_phase(PHASE_DRAINING)
    engine.on_stop()
    ctx.close()
    slot.set_phase(PHASE_STOPPED)
    log.info("engine_drained")
    return 0


def settle_priority(nice: int, log: FilteringBoundLogger) -> list[int]:
    """Give every thread of this process nice value `nice` (the start's raised priority is
    over). Linux keeps a nice value per thread and a thread inherits its creator's, so the
    threads on_start made (zmq's I/O thread, an engine's own) are set one by one. Lowering a
    priority is always permitted; a thread that is gone by now is skipped. Returns the
    thread ids set."""
    done: list[int] = []
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        tids = [0]  # no /proc: this thread only
    for tid in tids:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
        except ProcessLookupError:
            continue
        except OSError as exc:
            log.error("start_priority_not_settled", thread=tid, nice=nice, error=str(exc))
            continue
        done.append(tid)
    return done


def ring_ready_bell(path: str) -> bool:
    """Tell nautilusd the ready flag is set: one byte to its FIFO, so its loop wakes now
    instead of at its next look. False when there is none to ring (no bell, nobody reading,
    not a FIFO: nautilusd's slower look still finds the flag)."""
    if not path:
        return False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return False
        os.write(fd, b"\x01")
    except OSError:  # full: nautilusd has wake-ups pending already
        return False
    finally:
        os.close(fd)
    return True


def freeze_heap() -> None:
    """Move everything built so far (modules, rings, engine state) out of the collector's
    reach: a full collection over it takes milliseconds and would land on a random order."""
    gc.collect()
    gc.freeze()


def _attach_rings(spec: LaunchSpec, ctx: EngineContext) -> None:
    if not spec.rings:
        return
    from shm.layout import RECORDS

    cfg = spec.config
    for ring in spec.rings:
        segment, dtype = spec.ring_segments[ring.name], RECORDS[ring.record]
        if ring.writer == spec.config.name:
            ctx.writers[ring.name] = RingWriter.attach(segment, dtype, directory=spec.shm_dir)
        if spec.config.name in ring.readers:
            ctx.readers[ring.name] = RingReader.attach(
                segment, dtype, ring.readers.index(spec.config.name), directory=spec.shm_dir,
                wait=Blocking(spin_s=cfg.spin_us * 1e-6) if cfg.spin_us is not None
                and cfg.wait is WaitKind.BLOCKING else make_wait(cfg.wait),
            )


class _StopSignal:
    """SIGTERM/SIGINT set a flag and wake the idle wait through a pipe (set_wakeup_fd)."""

    def __init__(self) -> None:
        self.requested = False
        self.read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(write_fd)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self.requested = True

    def drain(self) -> None:
        try:
            while os.read(self.read_fd, 512):
                pass
        except BlockingIOError:
            pass


class _Loop:
    """poll() until stopped; heartbeat; when idle, spin briefly then park (engines._idle)."""

    def __init__(self, engine: Engine, ctx: EngineContext, stop: _StopSignal) -> None:
        self.engine, self.ctx, self.stop = engine, ctx, stop
        # Heartbeat four times per liveness timeout, at most once a second when idle.
        self.heartbeat_s = min(1.0, ctx.config.liveness_timeout_ms / 4000)
        spin_us = ctx.config.spin_us
        # The rings whose doorbells wake the engine: those it still reads through its context
        # (engines.wiring.quiet takes some out), all attached by the runner as shm readers.
        rings = [r for r in ctx.readers.values() if isinstance(r, RingReader)]
        self.idle = IdleWait(ctx.config.wait, rings, engine.wait_handles(),
                             stop.read_fd, stop.drain,
                             spin_s=None if spin_us is None else spin_us * 1e-6,
                             hot=ctx.config.spin is SpinKind.HOT)

    def run(self) -> None:
        poll, next_wakeup, stop = self.engine.poll, self.engine.next_wakeup_s, self.stop
        words, clock, wait, heartbeat_s = self.ctx.status.words, time.monotonic_ns, \
            self.idle.wait, self.heartbeat_s
        parks, worked = self.idle.parks, False
        hand_over = os.sched_yield if self.idle.after_work_yield else None
        engine = self.engine
        while not stop.requested:
            n = poll()
            words[W_HEARTBEAT_NS] = now = clock()
            if n:
                worked = True
                if now >= engine.overdue_ns:  # input that never stops: the idle work now
                    engine.on_overdue(now)
                if hand_over is not None:  # a hot spinner: a reader on this core runs now
                    hand_over()
                continue
            wakeup = next_wakeup() if parks else None  # spinning kinds never sleep
            wait(heartbeat_s if wakeup is None else min(heartbeat_s, wakeup), worked)
            worked = False


def main(argv: list[str] | None = None) -> int:
    """`python -m engines.runner package.module:Class [--params JSON]`: run one engine alone.

    Without nautilusd: a private status slot, no rings, no pin. For trying an engine out and
    for running the same program under another supervisor (the restart benchmark does).
    """
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m engines.runner")
    parser.add_argument("entry", help="package.module:Class")
    parser.add_argument("--name", default="standalone")
    parser.add_argument("--params", default="{}", help="engine params as a JSON object")
    parser.add_argument("--bus-pub", default="", help="bus endpoint to publish to")
    parser.add_argument("--bus-sub", default="", help="bus endpoint to subscribe at")
    parser.add_argument("--runtime-dir", default=".", help="sockets and address files")
    parser.add_argument("--state-dir", default=".", help="files that outlive the process")
    args = parser.parse_args(argv)
    config = EngineConfig(name=args.name, entry=args.entry,
                          params=MappingProxyType(json.loads(args.params)))
    stop = _StopSignal()
    configure_logging("json", "info", engine=args.name)
    log = get_logger(engine=args.name)
    slot = StatusSlot(memoryview(bytearray(SLOT_BYTES)), 0)
    ctx = EngineContext(name=args.name, config=config, params=config.params, symbols=(),
                        log=log, status=slot, bus_pub_endpoint=args.bus_pub,
                        bus_sub_endpoint=args.bus_sub, runtime_dir=Path(args.runtime_dir),
                        state_dir=Path(args.state_dir))
    engine = load_engine_class(args.entry)(ctx)
    engine.on_start()
    freeze_heap()
    slot.set_ready(True)
    _Loop(engine, ctx, stop).run()
    engine.on_stop()
    ctx.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
