"""What a control command can reach: the supervisor and the loop, as Protocols, and the server.

Built once by the ControlServer and handed to every command; `memo` keeps small per-command
state between requests (the rings command's last sample, for rates). The Protocols name
exactly what the commands use; nautilusd.supervisor.Supervisor satisfies them structurally.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar


class RingEnds(Protocol):
    """A configured ring as the rings command reads it (engines.spec.RingConfig)."""

    @property
    def writer(self) -> str: ...

    @property
    def readers(self) -> Sequence[str]: ...


class DaemonSection(Protocol):
    """The [supervisor] section as the status command reads it."""

    @property
    def metrics_address(self) -> str | None: ...


class TopologyView(Protocol):
    """A loaded config as the commands read it (nautilusd.config.model.Topology)."""

    @property
    def source(self) -> Path: ...

    @property
    def supervisor(self) -> DaemonSection: ...

    @property
    def rings(self) -> Mapping[str, RingEnds]: ...


TopologyT = TypeVar("TopologyT", bound=TopologyView)


class SupervisorApi(Protocol[TopologyT]):
    """The supervisor's command API (nautilusd.operations) as the commands call it."""

    @property
    def topology(self) -> TopologyT: ...

    @property
    def instances(self) -> Mapping[str, object]: ...

    @property
    def shutting_down(self) -> bool: ...

    def status(self) -> dict[str, Any]: ...

    def health(self) -> tuple[int, dict[str, Any]]: ...

    def start(self, target: str) -> list[str]: ...

    def stop(self, target: str) -> list[str]: ...

    def restart(self, target: str) -> list[str]: ...

    def reload(self, topology: TopologyT) -> dict[str, list[str]]: ...

    def scale(self, engine: str, n: int) -> list[str]: ...

    def pin(self, engine: str, cpus: list[int]) -> list[int]: ...

    def shutdown(self) -> None: ...

    def reexec(self) -> dict[str, Any]: ...

    def upgrade(self, target: str = "all", dry_run: bool = False) -> dict[str, Any]: ...


class CommandLoop(Protocol):
    """The daemon loop as the commands use it (nautilusd.loop.EventLoop)."""

    def now(self) -> float: ...

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> object: ...


@dataclass(slots=True)
class CommandContext(Generic[TopologyT]):
    supervisor: SupervisorApi[TopologyT]
    loop: CommandLoop
    load_topology: Callable[[Path], TopologyT]  # the daemon's loader; raises ConfigError
    runtime_dir: Path | None = None
    endpoints: dict[str, str] = field(default_factory=dict)
    service_endpoint: Callable[[str], str] | None = None  # where an instance serves methods
    memo: dict[str, Any] = field(default_factory=dict)
    server_stats: Callable[[], dict[str, int]] | None = None  # the control server's counters
