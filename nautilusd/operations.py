"""The supervisor's command API, used by the control plane: targets, start/stop/restart,
reload, scale, pin, health and the status document (a base class of Supervisor).

Every command only changes what is wanted and lets the supervisor's lifecycle logic act.
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Callable
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from nautilusd import groups, health
from nautilusd.config.model import Topology
from nautilusd.errors import NautilusdError, PinError, SpawnError, UnknownTargetError
from nautilusd.launch import resolve_cpus
from nautilusd.livechange import RingPlan, refuse_unappliable, ring_plan
from nautilusd.loop import EventLoop, Timer
from nautilusd.process import Instance
from nautilusd.restarts import RestartTracker
from nautilusd.states import State

if TYPE_CHECKING:
    from nautilusd.host import Host
    from nautilusd.ringset import RingSet
    from nautilusd.upgrade import Upgrade


class SupervisorCommands:
    """The operations of `nautilusctl`; Supervisor inherits them and provides the state."""

    topology: Topology
    instances: dict[str, Instance]
    host: Host
    loop: EventLoop
    rings: RingSet | None
    rng: random.Random
    shutting_down: bool
    started_at: float
    version: str
    reexecs: int
    start_phases_ms: dict[str, float]
    start_phases_cpu_ms: dict[str, float]
    reexec_handler: Callable[[], dict[str, Any]] | None
    upgrade_run: Upgrade | None
    _order: list[str]
    _removing: set[str]
    _ring_hold: set[str]  # instances that wait for a ring swap before they start again
    _ring_swap: tuple[RingPlan, Topology] | None
    _shutdown_timer: Timer | None
    _shutdown_listeners: list[Callable[[], object]]
    _reload_listeners: list[Callable[[Topology], object]]

    if TYPE_CHECKING:  # the lifecycle steps Supervisor provides
        def _queue_stop(self, names: list[str], restart: bool) -> None: ...
        def _advance(self) -> None: ...
        def _check_shutdown_done(self) -> None: ...
        def _kill(self, inst: Instance, reason: str, **fields: object) -> None: ...
        def _apply_topology(self, topology: Topology) -> None: ...
        def _emit(self, inst: Instance, event: str, **fields: object) -> None: ...

    def resolve(self, target: str) -> list[str]:
        """Instance names for `target`: an instance, an engine, a group, or "all"."""
        if target == "all":
            return [n for n in self._order if n in self.instances]
        if target in self.instances:
            return [target]
        if target in self.topology.engines:
            return list(self.topology.engines[target].instance_names)
        members = groups.group_members(self.topology, target)
        if members:
            return members
        known = [*self.instances, *self.topology.engines, *self.topology.groups]
        raise UnknownTargetError(target, dict.fromkeys(known))

    def start(self, target: str) -> list[str]:
        """Start `target`, and every instance a FATAL one of it had stopped (escalation)."""
        names = self._revive(self.resolve(target))
        self._advance()
        return names

    def _revive(self, names: list[str]) -> list[str]:
        """Want `names` running again (a FATAL one gets a fresh restart budget), plus the
        instances their escalation stopped; returns every instance it started."""
        found = [*names, *(n for n, i in self.instances.items()
                           if i.stopped_by in names and not i.wanted and n not in names)]
        for name in found:
            inst = self.instances[name]
            if inst.state is State.FATAL:
                inst.tracker.reset()
            inst.wanted, inst.stopped_by = True, None
            if not inst.running:
                inst.cancel_timer()
                inst.due = True
        return found

    def stop(self, target: str) -> list[str]:
        names = self.resolve(target)
        for name in names:
            self.instances[name].stopped_by = None  # the operator's stop: it stays down
        self._queue_stop(names, restart=False)
        return names

    def restart(self, target: str) -> list[str]:
        names = self.resolve(target)
        for name in names:
            self.instances[name].tracker.reset()
            self.instances[name].wanted = True
        self._queue_stop(names, restart=True)
        self._advance()
        return names

    def shutdown(self) -> None:
        """Stop everything in reverse order; stopped listeners run when all are down."""
        if self.shutting_down:
            return
        self.shutting_down = True
        for callback in self._shutdown_listeners:
            callback()
        timeout_s = self.topology.supervisor.shutdown_timeout_ms / 1000
        self._shutdown_timer = self.loop.call_later(timeout_s, self._shutdown_overdue)
        self._queue_stop([n for n in self._order if n in self.instances], restart=False)
        self._check_shutdown_done()

    def _shutdown_overdue(self) -> None:
        for inst in self.instances.values():
            if inst.running:
                self._kill(inst, "shutdown_timeout")

    def reload(self, topology: Topology) -> dict[str, list[str]]:
        """Apply a new topology: start added instances, restart changed ones, stop removed.
        A change only a restart can apply (rings, instance, sockets) refuses it whole."""
        refuse_unappliable(self.topology, topology)
        if self._ring_hold:
            raise NautilusdError("reload refused: the previous reload's ring change is still "
                                 f"being applied (waiting for {sorted(self._ring_hold)})")
        plan = ring_plan(self.topology, topology)
        new = {n: e for e in topology.engines.values() for n in e.instance_names}
        removed = [n for n in self.instances if n not in new]
        # an engine of a ring added, removed or changed restarts even if its own config did not
        changed = [n for n in new if n in self.instances and (
            self.instances[n].config != new[n] or new[n].name in plan.engines)]
        added = [n for n in new if n not in self.instances]
        self._apply_topology(topology)
        if self.rings is not None:
            for name in plan.added:  # before any engine that uses it starts
                self.rings.add(topology, topology.rings[name])
            if plan.replaced:  # their old segments go once every engine using them is down
                self._ring_hold = {n for n, i in self.instances.items()
                                   if i.engine in plan.engines}
                self._ring_swap = (plan, topology)
        for name in changed:
            inst = self.instances[name]
            inst.config, inst.tracker = new[name], RestartTracker(new[name], self.rng)
            inst.cpus = resolve_cpus(new[name], topology.supervisor.cpus, self.host.host_cpus())
        self._removing.update(removed)
        self._queue_stop(removed, restart=False)
        self._queue_stop([n for n in changed if self.instances[n].running], restart=True)
        for name in added:
            self.instances[name].wanted = self.instances[name].due = True
        # A changed engine that had given up (FATAL) runs again with the new config, and so
        # does every engine its failure had stopped.
        self._revive([n for n in changed if self.instances[n].state is State.FATAL])
        self._advance()
        for callback in self._reload_listeners:
            callback(topology)
        return {"added": added, "changed": changed, "removed": removed,
                "rings_added": list(plan.added), "rings_removed": list(plan.removed),
                "rings_changed": list(plan.changed)}

    def scale(self, engine: str, n: int) -> list[str]:
        """Run `n` replicas of `engine`; returns the instance names after the change."""
        if engine not in self.topology.engines:
            raise UnknownTargetError(engine, self.topology.engines)
        if n < 1:
            raise NautilusdError(f"scale {engine!r}: replicas must be >= 1, got {n!r}")
        ring_users = [r.name for r in self.topology.rings.values()
                      if engine == r.writer or engine in r.readers]
        if n > 1 and ring_users:
            # A ring slot belongs to one process: replicas would share a cursor.
            raise NautilusdError(
                f"scale {engine!r} to {n}: it uses rings {ring_users}; "
                "ring writers and readers run as a single instance"
            )
        config = dataclasses.replace(self.topology.engines[engine], replicas=n)
        engines = MappingProxyType({**self.topology.engines, engine: config})
        self.reload(dataclasses.replace(self.topology, engines=engines))
        return list(config.instance_names)

    def pin(self, engine: str, cpus: list[int]) -> list[int]:
        """Move every instance of `engine` (or one instance) to `cpus` now, verified."""
        found: list[int] = sorted(set(cpus))
        names = self.resolve(engine)
        host_cpus = self.host.host_cpus()
        missing = [c for c in found if c not in host_cpus]
        if not found or missing:
            why = (f"cpu {', '.join(map(str, missing))} not on this host (it has cpus "
                   f"{', '.join(map(str, sorted(host_cpus)))})" if missing else "no cpu given")
            raise PinError(self.instances[names[0]].pid, found, None, reason=f"{engine}: {why}")
        for name in names:
            inst = self.instances[name]
            if inst.running and inst.pid:
                found = self.host.pin(inst.pid, cpus)
            inst.cpus = tuple(found)
            self._emit(inst, "repinned", cpus_now=found)
        return found

    def upgrade(self, target: str = "all", dry_run: bool = False) -> dict[str, Any]:
        """Roll new engine code through `target` (nautilusd.upgrade); returns the plan. The
        progress is in status (daemon.upgrade); raises when one is already under way."""
        from nautilusd.upgrade import Upgrade

        if self.upgrade_run is not None and self.upgrade_run.state == "running":
            raise NautilusdError(f"an upgrade is under way ({self.upgrade_run.current}): "
                                 "wait for it to finish")
        if self.shutting_down:
            raise NautilusdError("nautilusd is shutting down: upgrade refused")
        names = [n for n in self.resolve(target)
                 if self.instances[n].wanted and not self.instances[n].execs]
        plan = {"targets": names, "versions": {n: self.instances[n].version for n in names},
                "dry_run": dry_run}
        if dry_run or not names:
            return plan
        old, previous = self.host.generation, self.upgrade_run
        run = self.upgrade_run = Upgrade(self, names, old)  # type: ignore[arg-type]
        run.start()  # the restarts begin once the new generation said hello
        try:
            generation = self.host.new_generation(run.generation_ready, run.generation_failed)
        except (SpawnError, OSError):
            run.abandon()
            self.upgrade_run = previous
            raise
        return {**plan, "generation": generation, "old_generation": old}

    def reexec(self) -> dict[str, Any]:
        """Re-execute nautilusd in place (nautilusd.reexec); raises naming why it cannot."""
        if self.reexec_handler is None:
            raise NautilusdError("reexec is not available in this process")
        return self.reexec_handler()

    def all_ready(self) -> bool:
        return all(i.state is State.READY for i in self.instances.values() if i.wanted)

    def health(self) -> tuple[int, dict[str, Any]]:
        """The one health model (nautilusd.health) over the instances' states."""
        rows = [{"name": n, "state": i.state.name, "link_up": i.link_up()}
                for n, i in self.instances.items()]
        found = health.assess(self.topology, rows)
        return found.code, found.as_dict()

    def critical_healthy(self) -> bool:
        """No member of a critical group is FATAL (gates the systemd watchdog)."""
        return self.health()[0] != 2

    def status(self) -> dict[str, Any]:
        """The `nautilusctl status --json` document."""
        now, now_ns = self.loop.now(), self.host.monotonic_ns()
        _, health_doc = self.health()
        engines = [self.instances[n].status(now, now_ns) for n in self._order
                   if n in self.instances]
        return {
            "daemon": {"instance": self.topology.supervisor.instance, "pid": os.getpid(),
                       "version": self.version, "config": str(self.topology.source),
                       "health": health_doc["status"],
                       "uptime_s": round(now - self.started_at, 3),
                       "engines_ready": sum(e["ready"] for e in engines),
                       "engines_total": len(engines), "shutting_down": self.shutting_down,
                       "reexecs": self.reexecs, "forkserver_generation": self.host.generation,
                       "start_phases_ms": self.start_phases_ms,
                       "start_phases_cpu_ms": self.start_phases_cpu_ms,
                       "upgrade": None if self.upgrade_run is None
                       else self.upgrade_run.as_dict()},
            "engines": engines,
            "rings": self.rings.stats() if self.rings is not None else [],
            "health": health_doc,
        }
