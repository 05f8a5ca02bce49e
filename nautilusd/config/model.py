"""The topology model: frozen, keyword-only objects that a TOML file is parsed into once.

`load_config(path)` (in `nautilusd.config.load`) returns a `Topology`; every other module
takes these objects, never raw dicts. Field names are the TOML keys.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from engines.spec import EngineConfig, PeerConfig, RingConfig
from nautilusd import paths


class GroupStrategy(enum.Enum):
    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


@dataclass(frozen=True, kw_only=True, slots=True)
class SupervisorConfig:
    """[supervisor]: the daemon itself."""

    instance: str = "default"
    runtime_dir: Path | None = None  # None: $XDG_RUNTIME_DIR/nautilusd/<instance> or /tmp/...
    # What must survive every stop (risk state, journal): None = paths.default_state_dir
    # ($STATE_DIRECTORY under systemd). Never the runtime dir: that one may vanish.
    state_dir: Path | None = None
    shm_dir: Path = field(default_factory=paths.default_shm_dir)  # private 0700 dir
    control_endpoint: str | None = None  # None: ipc://<runtime_dir>/control.sock
    bus_pub_endpoint: str | None = None  # engines publish here (XSUB side of the proxy)
    bus_sub_endpoint: str | None = None  # engines subscribe here (XPUB side of the proxy)
    metrics_address: str | None = "127.0.0.1:9464"  # None or "" disables /metrics
    cpus: tuple[int, ...] = ()  # cores for nautilusd itself; () leaves its affinity alone
    keep_rings: bool = False  # keep segments after shutdown for a post-mortem
    log_format: str = "auto"  # auto | json | console | journald
    log_level: str = "info"
    status_slots: int = 64
    shutdown_timeout_ms: int = 15_000
    watchdog_critical_group: str = "critical"


@dataclass(frozen=True, kw_only=True, slots=True)
class GroupConfig:
    """[groups.<name>]: an OTP-style restart group."""

    name: str
    strategy: GroupStrategy = GroupStrategy.ONE_FOR_ONE
    critical: bool = False  # a FATAL member makes the daemon unhealthy (watchdog stops)


@dataclass(frozen=True, kw_only=True, slots=True)
class FleetConfig:
    """[fleet]: this host among others ([[peers]]); empty when the host is alone."""

    host: str = ""  # this host's name; peers know it by this name
    # The CURVE control endpoint other hosts' `nautilusctl --host` use, 'tcp://ADDRESS:PORT';
    # None: not bound. Admits only [[peers]] public keys (ZAP).
    control_endpoint: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Topology:
    """A whole parsed config file."""

    source: Path
    supervisor: SupervisorConfig
    groups: MappingProxyType[str, GroupConfig]
    rings: MappingProxyType[str, RingConfig]
    engines: MappingProxyType[str, EngineConfig]  # in file order
    symbols: tuple[str, ...] = ()  # the symbol table: symbol_id = index
    fleet: FleetConfig = field(default_factory=FleetConfig)
    peers: MappingProxyType[str, PeerConfig] = field(
        default_factory=lambda: MappingProxyType({}))  # [[peers]] by name
