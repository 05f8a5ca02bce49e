"""The one health model: `nautilusctl health`, `/health`, the systemd watchdog, `status --json`
and the dashboard all read `assess(topology, engines)`, so they give the same answer.

Input is the engine list of a status document (name, state, group), from the supervisor's
own table or from the shm status table; every configured instance is expected.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nautilusd.config.model import Topology
from nautilusd.groups import is_critical

READY = "READY"
FATAL = "FATAL"
MISSING = "MISSING"  # a configured instance with no row (not spawned yet, or table lost)
LINK_DOWN = "LINK_DOWN"  # a READY bridge engine whose link to its peer is down


class HealthState(enum.Enum):
    """The answer, with its exit code (`nautilusctl health`) and HTTP status (`/health`)."""

    HEALTHY = 0  # every configured engine READY
    DEGRADED = 1  # something not READY (starting, backoff, stopped, FATAL outside critical)
    DOWN = 2  # a member of a critical group is FATAL: the watchdog stops pinging

    @property
    def word(self) -> str:
        return self.name.lower()

    @property
    def http_status(self) -> int:
        return 200 if self is HealthState.HEALTHY else 503


@dataclass(frozen=True, kw_only=True, slots=True)
class Reason:
    """Why one instance keeps health from HEALTHY."""

    engine: str
    state: str
    group: str
    critical: bool

    def as_dict(self) -> dict[str, Any]:
        return {"engine": self.engine, "state": self.state, "group": self.group,
                "critical": self.critical}


@dataclass(frozen=True, kw_only=True, slots=True)
class Health:
    state: HealthState
    engines: int
    reasons: tuple[Reason, ...]

    @property
    def code(self) -> int:
        return self.state.value

    def as_dict(self) -> dict[str, Any]:
        """The document every probe returns; its keys are the README's."""
        return {
            "status": self.state.word,
            "code": self.code,
            "engines": self.engines,
            "ready": self.engines - len(self.reasons),
            "not_ready": [r.engine for r in self.reasons],
            "fatal": [r.engine for r in self.reasons if r.state == FATAL],
            "critical_fatal": [r.engine for r in self.reasons if r.state == FATAL and r.critical],
            "reasons": [r.as_dict() for r in self.reasons],
        }


def assess(topology: Topology, engines: Iterable[Mapping[str, Any]]) -> Health:
    """Health of `topology`'s instances given their status rows (name, state)."""
    states = {str(e.get("name")): _state_of(e) for e in engines}
    reasons = []
    total = 0
    for config in topology.engines.values():
        critical = is_critical(topology, config.group)
        for name in config.instance_names:
            total += 1
            state = states.get(name, MISSING)
            if state != READY:
                reasons.append(Reason(engine=name, state=state, group=config.group,
                                      critical=critical))
    return Health(state=_state(reasons), engines=total, reasons=tuple(reasons))


def _state_of(row: Mapping[str, Any]) -> str:
    """The row's state; a READY bridge (an engine counting `link_up`) whose link is down
    reports LINK_DOWN: the engine runs, but what it carries does not reach the peer."""
    state = str(row.get("state") or MISSING)
    named = row.get("named_counters")
    link_up = row.get("link_up", named.get("link_up") if isinstance(named, Mapping) else None)
    if state == READY and link_up == 0:
        return LINK_DOWN
    return state


def _state(reasons: list[Reason]) -> HealthState:
    if any(r.critical and r.state == FATAL for r in reasons):
        return HealthState.DOWN
    return HealthState.DEGRADED if reasons else HealthState.HEALTHY
