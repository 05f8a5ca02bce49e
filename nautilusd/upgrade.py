"""`nautilusctl upgrade`: new engine code on a rolling restart, one engine at a time.

A new forkserver generation imports the engine code now on disk (the old one keeps serving
until no engine of its generation is left); the targets restart one by one in dependency
order, each only once the previous one is READY again, each resuming from its committed ring
cursors and its reconciled state as after any restart. An engine whose new code fails (does
not import, exits, or is not READY within its startup timeout) is rolled back: it restarts on
the old generation, the upgrade stops there with an error naming the engine and the reason,
and the event system.engine.<name>.upgrade_failed is published.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nautilusd.loop import Timer
from nautilusd.states import State

if TYPE_CHECKING:
    from nautilusd.supervisor import Supervisor

FAILURES = ("exited", "spawn_failed", "killed", "fatal")
MARGIN_S = 5.0  # beyond the engine's stop and startup timeouts before the upgrade gives up


class Upgrade:
    """One rolling upgrade of `targets` (instance names, in start order) on `sup`."""

    def __init__(self, sup: Supervisor, targets: list[str], old_generation: int) -> None:
        self.sup = sup
        self.queue = list(targets)
        self.targets = list(targets)
        self.old_generation = old_generation
        self.state = "running"  # running, done, failed
        self.current: str | None = None
        self.phase = ""  # restarting, rolling_back
        self.spawned_pid = 0
        self.upgraded: list[dict[str, Any]] = []
        self.error: str | None = None
        self.failed: str | None = None
        self._timer: Timer | None = None

    def start(self) -> None:
        """Wait for the new forkserver generation (generation_ready or generation_failed)."""
        self.phase = "starting_generation"
        self.sup.add_event_listener(self._on_event)

    def generation_ready(self, generation: int) -> None:
        if self.state == "running" and self.phase == "starting_generation":
            self.phase = ""
            self._next()

    def generation_failed(self, reason: str) -> None:
        """Nothing was restarted: every engine stays on the old generation."""
        if self.state == "running":
            self.error = f"{reason}; no engine was restarted"
            self._finish("failed")

    def abandon(self) -> None:
        """The new generation could not even be started (the caller raises)."""
        self.error = "the new forkserver generation could not be started"
        self._finish("failed")

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "phase": self.phase, "targets": self.targets,
                "current": self.current, "upgraded": self.upgraded, "failed": self.failed,
                "error": self.error, "old_generation": self.old_generation}

    def _next(self) -> None:
        if not self.queue:
            self._finish("done")
            return
        name = self.current = self.queue.pop(0)
        inst = self.sup.instances.get(name)
        if inst is None or not inst.wanted:
            self._next()
            return
        self.phase, self.spawned_pid = "restarting", 0
        self._old_version = inst.version
        self.sup.host.pin_generation(name, None)
        self._arm(inst.config.stop_timeout_ms + inst.config.startup_timeout_ms)
        self.sup.restart(name)

    def _arm(self, budget_ms: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.sup.loop.call_later(budget_ms / 1000 + MARGIN_S, self._overdue)

    def _overdue(self) -> None:
        self._timer = None
        if self.phase == "restarting":
            self._fail("not READY within its stop and startup timeouts")
        elif self.phase == "rolling_back":
            self._finish("failed")

    def _on_event(self, name: str, event: str, fields: dict[str, Any]) -> None:
        if self.state != "running" or name != self.current:
            return
        if event == "spawned":
            self.spawned_pid = int(fields.get("pid") or 0)
        elif event == "ready" and self.spawned_pid and fields.get("pid") == self.spawned_pid:
            if self.phase == "restarting":
                self.upgraded.append({"name": name, "from": self._old_version,
                                      "to": fields.get("version")
                                      or self.sup.instances[name].version})
                self.sup.loop.call_later(0, self._next)
            else:
                self._finish("failed")
        elif event in FAILURES and self.phase == "restarting" and self.spawned_pid:
            reason = fields.get("reason") or event
            code = fields.get("exit_code", fields.get("signal"))
            self._fail(f"{event} ({reason}{'' if code is None else f', {code}'}) "
                       "before READY on the new code")

    def _fail(self, reason: str) -> None:
        name = self.current or "?"
        self.failed = name
        self.error = (f"upgrade of {name} failed: {reason}; rolled back to forkserver "
                      f"generation {self.old_generation}")
        inst = self.sup.instances.get(name)
        self.phase, self.spawned_pid = "rolling_back", 0
        self.sup.host.pin_generation(name, self.old_generation)
        if inst is None:
            self._finish("failed")
            return
        self.sup.emit_event(inst, "upgrade_failed", reason=reason,
                            old_generation=self.old_generation)
        self._arm(inst.config.stop_timeout_ms + inst.config.startup_timeout_ms)
        self.sup.loop.call_later(0, lambda: self._roll_back(name))

    def _roll_back(self, name: str) -> None:
        """Onto the old generation: a restart unless the restart policy already spawned
        it there (it was pinned before the policy acted)."""
        inst = self.sup.instances[name]
        if inst.state is State.FATAL:
            self.sup.start(name)
        elif inst.running and inst.pid and (
                self.sup.host.generation_of(inst.pid) == self.old_generation):
            self.spawned_pid = inst.pid
            if inst.state is State.READY:
                self._finish("failed")
        else:
            self.sup.restart(name)

    def _finish(self, state: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if state == "failed" and self.error is None:
            self.error = f"upgrade of {self.current} did not complete"
        self.state = state
        if state == "done":
            self.current = None
        self.phase = ""
        listeners = self.sup.events.listeners
        if self._on_event in listeners:
            listeners.remove(self._on_event)
