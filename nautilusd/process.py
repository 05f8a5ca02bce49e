"""One supervised engine instance: its lifecycle state, status-table words and restart history.

Every state change goes through `Instance.fire`, which applies the lifecycle table and
mirrors the new state into the instance's status slot; the supervisor decides the triggers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engines.counters import counter_names, named_values
from engines.spec import EngineConfig
from nautilusd.loop import Timer
from nautilusd.restarts import RestartTracker
from nautilusd.states import RUNNING_STATES, State, Trigger, transition
from shm.status import (
    CUSTOM_COUNTERS,
    NO_EXIT,
    W_CUSTOM0,
    W_ERRORS,
    W_EXIT_CODE,
    W_GENERATION,
    W_HEARTBEAT_NS,
    W_PHASE,
    W_PID,
    W_READY,
    W_RECORDS_IN,
    W_RECORDS_OUT,
    W_RESTARTS,
    W_STATE,
    StatusSlot,
)
from shm.status import W_DROPPED as W_DROPPED_RECORDS


@dataclass(frozen=True, slots=True)
class ExitRecord:
    """How the last process of an instance ended."""

    code: int  # exit code >= 0, or -signal
    reason: str  # "exit", "signal", or why nautilusd killed it (liveness, memory, ...)
    at: float  # loop time

    def as_dict(self) -> dict[str, int | str]:
        if self.code < 0:
            return {"signal": -self.code, "reason": self.reason}
        return {"exit_code": self.code, "reason": self.reason}


class Instance:
    """One process slot of an engine (`risk`, or `strategy-1` with replicas)."""

    def __init__(self, name: str, config: EngineConfig, slot: StatusSlot,
                 cpus: tuple[int, ...], tracker: RestartTracker, *, fresh: bool = True) -> None:
        self.name = name
        self.config = config
        self.slot = slot
        self.cpus = cpus
        self.tracker = tracker
        self.state = State.STOPPED
        self.pid = 0
        self.generation = 0
        self.restarts = 0
        self.wanted = False  # the operator (or the topology) wants it running
        self.due = False  # spawn as soon as its `after` dependencies are ready
        self.restart_after_stop = False
        # the FATAL instance whose escalation stopped this one: started again with it
        self.stopped_by: str | None = None
        self.kill_reason: str | None = None
        self.started_at = 0.0
        self.ready_at = 0.0
        self.last_exit: ExitRecord | None = None
        self.version: str | None = None  # code version of its latest process (codeversion)
        self.timer: Timer | None = None  # backoff or stop timeout, one at a time
        if fresh:  # else: a slot a running process writes, adopted after an exec (reexec)
            slot.reset(name)
            slot.put(W_STATE, self.state.code)

    @property
    def engine(self) -> str:
        return self.config.name

    @property
    def running(self) -> bool:
        return self.state in RUNNING_STATES

    @property
    def execs(self) -> bool:
        """An exec'd program: no runner, so no ready flag and no heartbeat."""
        return self.config.command is not None

    def fire(self, trigger: Trigger) -> State:
        self.state = transition(self.state, trigger)
        self.slot.put(W_STATE, self.state.code)
        return self.state

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def prepare_spawn(self) -> int:
        """Clear the engine-written words for a new process; return its generation."""
        self.generation += 1
        for word in (W_READY, W_PHASE, W_HEARTBEAT_NS, W_PID):
            self.slot.put(word, 0)
        self.slot.put(W_GENERATION, self.generation)
        self.kill_reason = None
        return self.generation

    def spawned(self, pid: int, now: float) -> None:
        self.pid = pid
        self.started_at = now
        self.slot.put(W_PID, pid)

    def exited(self, code: int, now: float) -> ExitRecord:
        reason = self.kill_reason or ("signal" if code < 0 else "exit")
        self.last_exit = ExitRecord(code, reason, now)
        self.pid = 0
        self.slot.put(W_PID, 0)
        self.slot.put(W_EXIT_CODE, code)
        self.slot.put(W_READY, 0)
        return self.last_exit

    def count_restart(self) -> None:
        self.restarts += 1
        self.slot.put(W_RESTARTS, self.restarts)

    def reports_ready(self) -> bool:
        return self.execs or self.slot.get(W_READY) == 1

    def heartbeat_age_ns(self, now_ns: int) -> int | None:
        beat = self.slot.get(W_HEARTBEAT_NS)
        return None if beat == 0 else now_ns - beat

    def link_up(self) -> int | None:
        """A bridge engine's `link_up` counter (1 up, 0 down); None for other engines."""
        names = counter_names(self.config.entry)
        if "link_up" not in names:
            return None
        return self.slot.get(W_CUSTOM0 + names.index("link_up"))

    def status(self, now: float, now_ns: int) -> dict[str, Any]:
        """This instance's entry in the `nautilusctl status --json` document."""
        age = self.heartbeat_age_ns(now_ns) if self.running else None
        exit_code = self.slot.get(W_EXIT_CODE)
        return {
            "name": self.name, "engine": self.engine, "state": self.state.name,
            "pid": self.pid or None, "cpus": list(self.cpus), "group": self.config.group,
            "ready": self.state is State.READY, "restarts": self.restarts,
            "generation": self.generation, "version": self.version,
            "uptime_s": round(now - self.started_at, 3) if self.running else 0.0,
            "heartbeat_age_ms": None if age is None else round(age / 1e6, 3),
            "last_exit": None if self.last_exit is None else self.last_exit.as_dict(),
            "exit_code": None if exit_code == NO_EXIT else exit_code,
            "counters": {
                "records_in": self.slot.get(W_RECORDS_IN),
                "records_out": self.slot.get(W_RECORDS_OUT),
                "errors": self.slot.get(W_ERRORS),
                "dropped": self.slot.get(W_DROPPED_RECORDS),
            },
            "named_counters": named_values(
                counter_names(self.config.entry),
                [self.slot.get(W_CUSTOM0 + i) for i in range(CUSTOM_COUNTERS)]),
        }
