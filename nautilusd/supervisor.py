"""The supervisor: lifecycle of every engine instance, group strategies, ordering, commands.

Single-threaded on the event loop: process exits arrive as callbacks from the Host, readiness
and liveness are read from the status table on timers, and every lifecycle event is both a
structured log record and a call to each event listener.
"""

from __future__ import annotations

import random
import signal
from collections.abc import Callable
from typing import Any, Protocol

from engines.spec import EngineConfig
from nautilusd import groups
from nautilusd.codeversion import code_version
from nautilusd.config.model import Topology
from nautilusd.errors import NautilusdError
from nautilusd.events import EventListener, EventSink
from nautilusd.host import Host
from nautilusd.launch import LaunchPaths, launch_spec, resolve_cpus
from nautilusd.livechange import RingPlan
from nautilusd.loop import EventLoop, Timer
from nautilusd.operations import SupervisorCommands
from nautilusd.process import Instance
from nautilusd.restarts import RestartTracker
from nautilusd.ringset import RingSet
from nautilusd.states import State, Trigger
from nautilusd.upgrade import Upgrade
from shm.status import StatusSlot

READY_POLL_S = 0.001  # readiness is read from shm this often, only while something starts
# ... and this often when engines ring a ready bell (the daemon's): a look for a bell that
# was missed and for startup time-outs, not the path readiness is seen by.
READY_BACKSTOP_S = 0.05
EXIT_SPAWN_FAILED = 127


class SlotTable(Protocol):
    slots: int

    def slot(self, index: int) -> StatusSlot: ...


class Supervisor(SupervisorCommands):
    """Owns every Instance; see the command API (status/start/stop/restart/...) below."""

    def __init__(self, topology: Topology, host: Host, loop: EventLoop, table: SlotTable, *,
                 paths: LaunchPaths | None = None, rings: RingSet | None = None,
                 rng: random.Random | None = None, ready_poll_s: float = READY_POLL_S,
                 adopted_slots: dict[str, int] | None = None) -> None:
        self.topology = topology
        self._adopted_slots = dict(adopted_slots or {})  # instance -> slot, after an exec
        self.host = host
        self.loop = loop
        self.table = table
        self.paths = paths or LaunchPaths()
        self.rings = rings
        self.rng = rng or random.Random()
        self.ready_poll_s = ready_poll_s
        self.events = EventSink()
        self.on_event: EventListener | None = None
        self.instances: dict[str, Instance] = {}
        self._free_slots = list(range(table.slots - 1, -1, -1))
        self._order: list[str] = []
        self._stop_queue: dict[str, bool] = {}  # name -> restart once stopped
        self._removing: set[str] = set()
        self._ring_hold: set[str] = set()
        self._ring_swap: tuple[RingPlan, Topology] | None = None
        self._stopped_listeners: list[Callable[[], None]] = []
        self._reload_listeners: list[Callable[[Topology], object]] = []
        self._shutdown_listeners: list[Callable[[], object]] = []
        self._ready_timer: Timer | None = None
        self._liveness_timer: Timer | None = None
        self._shutdown_timer: Timer | None = None
        self.shutting_down = False
        self.started_at = loop.now()
        self.version = code_version("nautilusd")  # this image's own code, as loaded
        self.versions: dict[str, str] = {}  # instance -> code version of its latest process
        self.reexecs = 0  # re-executions of nautilusd since it started (nautilusd.reexec)
        self.start_phases_ms: dict[str, float] = {}  # this image's start (startphases)
        self.start_phases_cpu_ms: dict[str, float] = {}  # the CPU time of each phase
        self.reexec_handler: Callable[[], dict[str, Any]] | None = None  # set by the daemon
        self.upgrade_run: Upgrade | None = None  # the latest upgrade (nautilusd.upgrade)
        self._apply_topology(topology)

    # -- building -----------------------------------------------------------------------------

    def _apply_topology(self, topology: Topology) -> None:
        """Take `topology`, adding its new instances; refused whole (nothing changed) when
        the status table lacks a slot for any of them."""
        new = [n for e in topology.engines.values() for n in e.instance_names
               if n not in self.instances]
        if len(new) > len(self._free_slots):
            raise NautilusdError(
                f"{len(new)} new instance(s) need a status slot, {len(self._free_slots)} free "
                f"of status_slots = {self.table.slots}: refused, nothing changed")
        self.topology = topology
        self._order = groups.instance_order(topology)
        for engine in topology.engines.values():
            for name in engine.instance_names:
                if name not in self.instances:
                    self.instances[name] = self._new_instance(name, engine)

    def _new_instance(self, name: str, config: EngineConfig) -> Instance:
        if not self._free_slots:
            raise NautilusdError(f"no free status slot for {name!r}: raise status_slots")
        adopted = self._adopted_slots.pop(name, None)
        if adopted is not None and adopted in self._free_slots:
            self._free_slots.remove(adopted)  # the slot its running process writes
            index = adopted
        else:
            adopted, index = None, self._free_slots.pop()
        slot = self.table.slot(index)
        cpus = resolve_cpus(config, self.topology.supervisor.cpus, self.host.host_cpus())
        return Instance(name, config, slot, cpus, RestartTracker(config, self.rng),
                        fresh=adopted is None)

    def add_event_listener(self, callback: EventListener) -> None:
        """`callback(name, event, fields)` for every lifecycle event."""
        self.events.listeners.append(callback)

    def add_stopped_listener(self, callback: Callable[[], None]) -> None:
        """`callback()` once shutdown() has stopped every instance."""
        self._stopped_listeners.append(callback)

    def add_shutdown_listener(self, callback: Callable[[], object]) -> None:
        """`callback()` when shutdown() begins (before any engine is stopped)."""
        self._shutdown_listeners.append(callback)

    def add_reload_listener(self, callback: Callable[[Topology], object]) -> None:
        """`callback(topology)` after reload() applied a new topology."""
        self._reload_listeners.append(callback)

    def emit_event(self, inst: Instance, event: str, **fields: object) -> None:
        """A lifecycle event about `inst` from outside the supervisor (an upgrade's)."""
        self._emit(inst, event, **fields)

    def _emit(self, inst: Instance, event: str, **fields: object) -> None:
        pid = fields.pop("pid", inst.pid)
        # generation and the daemon's CLOCK_MONOTONIC stamp let an observer tell which
        # process an event is about and when the daemon acted (bench restart's breakdown).
        fields = {"engine": inst.engine, "pid": pid, "generation": inst.generation,
                  "cpus": list(inst.cpus), "restarts": inst.restarts,
                  "mono_ns": self.host.monotonic_ns(), **fields}
        self.events.emit(inst.name, event, fields)
        if self.on_event is not None:
            self.on_event(inst.name, event, fields)

    # -- starting -----------------------------------------------------------------------------

    def start_all(self) -> list[str]:
        """Start every instance in dependency order, each gated on its `after` being ready."""
        names = self.start("all")
        if self._liveness_timer is None:
            self._liveness_timer = self.loop.call_every(self._liveness_interval_s(),
                                                        self._check_liveness)
        return names

    def pending_stops(self) -> list[str]:
        """Instances queued to stop or to be removed (a handover waits for none)."""
        return [*self._stop_queue, *self._removing]

    def adopt_process(self, inst: Instance, start_ticks: int) -> bool:
        """Watch `inst`'s process again after an exec of nautilusd (nautilusd.reexec)."""
        generation = inst.generation
        return self.host.adopt_process(inst.pid, start_ticks, inst.version,
                                       lambda code: self._on_exit(inst, generation, code))

    def resume(self, lost: list[str]) -> None:
        """Go on supervising adopted instances: liveness checks again, and an exit (SIGKILL)
        for each one whose process did not survive the exec, so its restart policy acts."""
        if self._liveness_timer is None:
            self._liveness_timer = self.loop.call_every(self._liveness_interval_s(),
                                                        self._check_liveness)
        for name in lost:
            inst = self.instances[name]
            generation = inst.generation
            self.loop.call_later(0, lambda i=inst, g=generation: self._on_exit(  # type: ignore[misc]
                i, g, -signal.SIGKILL))
        self._advance()

    def _liveness_interval_s(self) -> float:
        timeouts = [e.liveness_timeout_ms for e in self.topology.engines.values()] or [2000]
        # Four looks per shortest timeout: a hung engine is gone within 1.25x its timeout.
        return min(1.0, max(0.01, min(timeouts) / 4000))

    def _deps_ready(self, inst: Instance) -> bool:
        for dep in inst.config.after:
            engine = self.topology.engines.get(dep)
            names = engine.instance_names if engine is not None else ()
            if any(self.instances[n].state is not State.READY for n in names):
                return False
        return True

    def _advance(self) -> None:
        if self.shutting_down:
            return
        if self._ring_hold and not any(self.instances[n].running for n in self._ring_hold
                                       if n in self.instances):
            self._swap_rings()
        for name in self._order:
            inst = self.instances[name]
            if (inst.due and inst.wanted and not inst.running and name not in self._ring_hold
                    and self._deps_ready(inst)):
                self._spawn(inst)

    def _swap_rings(self) -> None:
        """Every engine of a removed or changed ring is down: replace the segments, then let
        those engines start again (reload)."""
        held, self._ring_hold = self._ring_hold, set()
        if self._ring_swap is None or self.rings is None:
            return
        (plan, topology), self._ring_swap = self._ring_swap, None
        for name in plan.replaced:
            self.rings.remove(name)
        for name in plan.changed:
            self.rings.add(topology, topology.rings[name])
        self.events.log.info("rings_replaced", rings=list(plan.replaced), engines=sorted(held))

    def _spawn(self, inst: Instance) -> None:
        inst.due = False
        inst.cancel_timer()
        generation = inst.prepare_spawn()
        spec = launch_spec(inst, self.topology, self.paths)
        inst.fire(Trigger.START)
        try:
            pid = self.host.spawn(spec, lambda code: self._on_exit(inst, generation, code))
        except (NautilusdError, OSError) as exc:  # pid stays 0: nothing to signal later
            self._emit(inst, "spawn_failed", reason=str(exc))
            self.loop.call_later(0, lambda: self._on_exit(inst, generation, EXIT_SPAWN_FAILED))
            return
        inst.spawned(pid, self.loop.now())
        inst.version = self.host.code_version(pid)
        if inst.version is not None:  # replaced whole: the metrics thread reads it unlocked
            self.versions = {**self.versions, inst.name: inst.version}
        self._emit(inst, "spawned", generation=generation, version=inst.version)
        if inst.execs:
            self._became_ready(inst)
        elif self._ready_timer is None:
            self._ready_timer = self.loop.call_every(self.ready_poll_s, self.check_readiness)

    def check_readiness(self) -> None:
        """Look at every starting engine's ready flag now (a ready bell rang, or the timer)."""
        now, starting = self.loop.now(), False
        for inst in list(self.instances.values()):
            if inst.state is not State.STARTING:
                continue
            if inst.reports_ready():
                self._became_ready(inst)
            elif now - inst.started_at > inst.config.startup_timeout_ms / 1000:
                self._kill(inst, "startup_timeout")
            else:
                starting = True
        if not starting and self._ready_timer is not None:
            self._ready_timer.cancel()
            self._ready_timer = None
        self._advance()

    def _became_ready(self, inst: Instance) -> None:
        inst.fire(Trigger.READY)
        inst.ready_at = self.loop.now()
        self._emit(inst, "ready", startup_ms=round((inst.ready_at - inst.started_at) * 1e3, 3))

    # -- watching -----------------------------------------------------------------------------

    def _check_liveness(self) -> None:
        now_ns = self.host.monotonic_ns()
        for inst in list(self.instances.values()):
            if inst.state is not State.READY or inst.kill_reason is not None:
                continue
            age_ns = inst.heartbeat_age_ns(now_ns)
            if not inst.execs and age_ns is not None and (
                age_ns > inst.config.liveness_timeout_ms * 1_000_000
            ):
                self._kill(inst, "liveness", heartbeat_age_ms=round(age_ns / 1e6, 1))
            elif inst.config.memory_max_bytes is not None:
                rss = self.host.rss_bytes(inst.pid)
                if rss is not None and rss > inst.config.memory_max_bytes:
                    self._kill(inst, "memory", rss_bytes=rss,
                               memory_max_bytes=inst.config.memory_max_bytes)

    def _kill(self, inst: Instance, reason: str, **fields: object) -> None:
        if inst.kill_reason is not None or not inst.pid:
            return
        inst.kill_reason = reason
        self.host.signal(inst.pid, signal.SIGKILL)
        self._emit(inst, "killed", reason=reason, **fields)

    def _on_exit(self, inst: Instance, generation: int, code: int) -> None:
        if generation != inst.generation or not inst.running:
            return  # a report about a process this instance no longer has
        pid = inst.pid
        record = inst.exited(code, self.loop.now())
        fields = {"pid": pid, **record.as_dict()}
        if inst.state is State.STOPPING:
            inst.fire(Trigger.EXIT)
            inst.cancel_timer()
            self._emit(inst, "stopped", **fields)
            self._after_stopped(inst)
        else:
            inst.fire(Trigger.EXIT)
            self._emit(inst, "exited", **fields)
            self._after_failure(inst, code, failure=record.reason not in ("exit", "signal"))
        self._advance_stops()
        self._advance()
        self._check_shutdown_done()

    # -- restarts and escalation --------------------------------------------------------------

    def _after_failure(self, inst: Instance, code: int, failure: bool) -> None:
        if self.shutting_down:
            return  # it is queued for a stop; no restart, no escalation
        decision = inst.tracker.decide(self.loop.now(), code, failure)
        if decision.fatal:
            inst.fire(Trigger.GIVE_UP)
            self._emit(inst, "fatal", reason="restart_intensity", max_restarts=(
                inst.config.max_restarts), restart_window_s=inst.config.restart_window_s)
            self._release_slots(inst)
            self._escalate(inst)
            return
        if not decision.restart:
            self._emit(inst, "not_restarted", reason=f"policy {inst.config.restart.value}")
            return
        inst.count_restart()
        group = inst.config.group
        members = [m for m in groups.group_members(self.topology, group) if m in self.instances]
        others = [m for m in groups.restart_set(groups.strategy_of(self.topology, group),
                                                members, inst.name) if m != inst.name]
        if others:
            self._emit(inst, "group_restart", group=group, instances=others)
            self._queue_stop([o for o in others if self.instances[o].running], restart=True)
        if decision.delay_s == 0:
            inst.due = True
            self._emit(inst, "restarting", backoff_s=0.0, attempt=decision.attempt)
            return
        inst.fire(Trigger.BACKOFF)
        inst.timer = self.loop.call_later(decision.delay_s, lambda: self._backoff_over(inst))
        self._emit(inst, "backoff", backoff_s=round(decision.delay_s, 4), attempt=decision.attempt)

    def _backoff_over(self, inst: Instance) -> None:
        inst.timer = None
        if inst.state is State.BACKOFF and inst.wanted:
            inst.due = True
            self._advance()

    def _release_slots(self, inst: Instance) -> None:
        """A FATAL engine of a non-critical group stops gating the block rings it reads: an
        observer that gave up must not stall the order path behind it (a full fills ring
        would block execution). A critical engine keeps its block-ring slots: the path fails
        closed. Overwrite-ring slots (ticks) gate nothing and go for every FATAL reader: its
        writer no longer checks or rings a reader that is not coming back."""
        if self.rings is None:
            return
        block = not groups.is_critical(self.topology, inst.config.group)
        for released in self.rings.release_reader_slots(inst.engine, self.topology, block):
            self._emit(inst, "reader_released", **released)

    def _escalate(self, inst: Instance) -> None:
        group = inst.config.group
        strategy = groups.strategy_of(self.topology, group)
        members = [m for m in groups.group_members(self.topology, group) if m in self.instances]
        victims = [m for m in groups.restart_set(strategy, members, inst.name) if m != inst.name]
        critical = groups.is_critical(self.topology, group)
        self._emit(inst, "escalated", group=group, strategy=strategy.value, critical=critical,
                   stopping=victims)
        for name in victims:
            self.instances[name].wanted = False
        self._queue_stop(victims, restart=False)
        for name in victims:
            self.instances[name].stopped_by = inst.name

    # -- stopping -----------------------------------------------------------------------------

    def _queue_stop(self, names: list[str], restart: bool) -> None:
        for name in names:
            inst = self.instances[name]
            inst.due = False
            if not restart:
                inst.wanted = False
            self._stop_queue[name] = restart or self._stop_queue.get(name, False)
        self._advance_stops()

    def _dependents(self, inst: Instance) -> list[Instance]:
        return [i for i in self.instances.values() if inst.engine in i.config.after]

    def _advance_stops(self) -> None:
        # Reverse start order: an instance stops once the queued instances after it are down.
        for name in [*reversed(self._order), *self._removing]:
            if name not in self._stop_queue or name not in self.instances:
                continue
            inst = self.instances[name]
            if any((d.running and d.name in self._stop_queue) or d.state is State.STOPPING
                   for d in self._dependents(inst)):
                continue
            self._stop_now(inst, self._stop_queue.pop(name))

    def _stop_now(self, inst: Instance, restart: bool) -> None:
        inst.restart_after_stop = restart
        if inst.state in (State.STARTING, State.READY):
            inst.fire(Trigger.STOP)
            if inst.pid:  # 0: a failed spawn whose exit report is already on its way
                self.host.signal(inst.pid, signal.SIGTERM)
            generation = inst.generation
            inst.timer = self.loop.call_later(inst.config.stop_timeout_ms / 1000,
                                              lambda: self._stop_timeout(inst, generation))
            self._emit(inst, "stopping", stop_timeout_ms=inst.config.stop_timeout_ms)
        elif inst.state in (State.BACKOFF, State.EXITED, State.FATAL):
            inst.cancel_timer()
            inst.fire(Trigger.STOP)
            self._emit(inst, "stopped", reason="stop")
            self._after_stopped(inst)
        elif inst.state is State.STOPPED:
            self._after_stopped(inst)

    def _stop_timeout(self, inst: Instance, generation: int) -> None:
        inst.timer = None
        if inst.state is State.STOPPING and inst.generation == generation:
            self._kill(inst, "stop_timeout")

    def _after_stopped(self, inst: Instance) -> None:
        if inst.name in self._removing:
            self._remove(inst)
        elif inst.restart_after_stop and not self.shutting_down:
            inst.restart_after_stop = False
            inst.wanted = inst.due = True
            inst.count_restart()

    def _remove(self, inst: Instance) -> None:
        self._removing.discard(inst.name)
        del self.instances[inst.name]
        inst.slot.reset("")
        self._free_slots.append(inst.slot.index)
        self._emit(inst, "removed")

    def _check_shutdown_done(self) -> None:
        if not self.shutting_down or any(i.running for i in self.instances.values()):
            return
        for timer in (self._shutdown_timer, self._liveness_timer, self._ready_timer):
            if timer is not None:
                timer.cancel()
        self._shutdown_timer = self._liveness_timer = self._ready_timer = None
        listeners, self._stopped_listeners = self._stopped_listeners, []
        for callback in listeners:
            callback()
