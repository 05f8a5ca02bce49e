"""The engine contract: what a supervised engine is, as the config states it: its entry,
cores, restart policy, waits, limits and params, and the rings it writes and reads.

Frozen, keyword-only objects; nautilusd's config loader builds them from TOML, an engine
receives its own in its context. Field names are the TOML keys.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from shm import Policy, WaitKind

EMPTY: MappingProxyType[str, Any] = MappingProxyType({})


class RestartPolicy(enum.Enum):
    ALWAYS = "always"
    ON_FAILURE = "on-failure"
    NEVER = "never"


class SpinKind(enum.Enum):
    """How a blocking engine watches its input rings during its post-work spin."""

    YIELD = "yield"  # give the core away between looks
    # look without giving the core away; give it away once after each poll that did work,
    # so that a reader of this engine's output sharing the core takes the record at once
    HOT = "hot"


@dataclass(frozen=True, kw_only=True, slots=True)
class RingConfig:
    """[rings.<name>]: one shared-memory ring, created by nautilusd."""

    name: str
    record: str  # a name from shm.layout.RECORDS
    capacity: int  # a power of two
    policy: Policy  # TOML: "block" or "overwrite"
    writer: str  # engine name
    readers: tuple[str, ...]  # engine names; reader slot index = position in this tuple
    block_timeout_ms: int = 1_000
    latest: bool = False  # keep each symbol's last record on a board (shm.latest)


@dataclass(frozen=True, kw_only=True, slots=True)
class PeerConfig:
    """[[peers]]: another host of the fleet: where it is and the CURVE key it proves."""

    name: str
    address: str  # IP address or DNS name its bridges and control endpoint listen on
    public_key: str  # its Z85 CURVE public key (`nautilusctl keys generate` prints it)
    control_port: int = 7100  # its CURVE control endpoint (nautilusctl --host NAME)
    # what it may run on this host's control endpoint: "read", "operate", "admin" and/or
    # command names (nautilusd.control.permissions); unset: read only
    allow: tuple[str, ...] = ("read",)


@dataclass(frozen=True, kw_only=True, slots=True)
class RLimits:
    memlock: int | None = None  # bytes, -1 = unlimited
    nofile: int | None = None
    as_bytes: int | None = None  # TOML key "as"


@dataclass(frozen=True, kw_only=True, slots=True)
class EngineConfig:
    """[engines.<name>]: one supervised engine (or `replicas` identical instances)."""

    name: str
    entry: str | None = None  # "package.module:Class" for a Python engine
    command: tuple[str, ...] | None = None  # an argv to exec for any other program
    cpus: tuple[int, ...] = ()  # () = every core not reserved for nautilusd
    group: str = "default"
    after: tuple[str, ...] = ()
    restart: RestartPolicy = RestartPolicy.ALWAYS
    backoff_initial_ms: int = 10  # delay of the second retry (the first is immediate)
    backoff_max_ms: int = 5_000
    backoff_jitter: float = 0.1  # +/- fraction applied to each delay
    max_restarts: int = 5  # restart intensity: at most this many ...
    restart_window_s: float = 30.0  # ... within this many seconds, then FATAL
    startup_timeout_ms: int = 10_000
    liveness_timeout_ms: int = 2_000
    stop_timeout_ms: int = 5_000
    wait: WaitKind = WaitKind.BLOCKING
    # blocking only: after work, watch the input rings this long (giving the core away between
    # looks) before sleeping on the doorbells. None = the library default (shm.wait).
    spin_us: int | None = None
    spin: SpinKind = SpinKind.YIELD  # blocking only: how the spin looks (SpinKind)
    nice: int | None = None
    # The nice value from claim to READY (then `nice`, or the forkserver's): a restart's few ms
    # of start work get the core ahead of the engines already running there, so READY does not
    # wait behind a spinning peer. Applied only where permitted (root or CAP_SYS_NICE) and only
    # when it raises the priority. None = no boost.
    start_nice: int | None = -10
    sched_fifo_priority: int | None = None
    mlockall: bool = False
    rlimits: RLimits = field(default_factory=RLimits)
    memory_max_bytes: int | None = None  # RSS cap; exceeded -> restart (TOML: memory_max_mb)
    environment: MappingProxyType[str, str] = field(default_factory=lambda: EMPTY)
    user: str | None = None
    params: MappingProxyType[str, Any] = field(default_factory=lambda: EMPTY)  # for the engine
    replicas: int = 1

    @property
    def instance_names(self) -> tuple[str, ...]:
        """Names of the processes this entry runs: `name`, or `name-0`.. with replicas."""
        if self.replicas == 1:
            return (self.name,)
        return tuple(f"{self.name}-{i}" for i in range(self.replicas))


