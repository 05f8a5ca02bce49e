"""The engine SDK: the `Engine` base class a user subclasses and the `EngineContext` it gets.

An engine never touches the supervisor: it reads and writes its rings, publishes on the bus,
and counts into its status slot; the runner (engines.runner) drives the lifecycle hooks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

from structlog.typing import FilteringBoundLogger

from engines.rings import RecordReader, RecordWriter
from engines.spec import EngineConfig, PeerConfig
from engines.statedir import StateDir
from shm.status import StatusSlot

if TYPE_CHECKING:
    import zmq

    from engines.bus import Publisher, Subscriber

# What an engine may add to its idle wait: a zmq socket or a file descriptor.
Pollable: TypeAlias = "zmq.Socket[Any] | int"


@dataclass(kw_only=True, slots=True)
class EngineContext:
    """Everything an engine may use: its config, rings, bus endpoints, status slot, logger."""

    name: str  # instance name (`risk`, or `strategy-1` with replicas)
    config: EngineConfig
    params: Mapping[str, Any]  # the free-form [engines.<name>.params]: see engines.params
    symbols: tuple[str, ...]
    log: FilteringBoundLogger  # bound with engine=name
    status: StatusSlot
    readers: dict[str, RecordReader] = field(default_factory=dict)  # by ring name
    writers: dict[str, RecordWriter] = field(default_factory=dict)  # by ring name
    bus_pub_endpoint: str = ""
    bus_sub_endpoint: str = ""
    runtime_dir: Path = Path(".")  # sockets and other things a restart may lose
    # What must survive every stop: a 0700 directory nautilusd made; open files through
    # `self.state` (engines.statedir.StateDir: O_NOFOLLOW, owner and mode verified).
    state_dir: Path = Path(".")
    host: str = ""  # this host's name in the fleet ([fleet].host), "" when alone
    peers: Mapping[str, PeerConfig] = field(default_factory=dict)  # [[peers]] by name
    _publisher: Publisher | None = None
    _subscribers: list[Subscriber] = field(default_factory=list)

    @property
    def state(self) -> StateDir:
        """The state directory as a StateDir: `ctx.state.open(name, flags)` and friends."""
        return StateDir(self.state_dir)

    def publisher(self) -> Publisher:
        """The engine's bus publisher, created on first use and shared."""
        if self._publisher is None:
            from engines.bus import Publisher

            self._publisher = Publisher(self.bus_pub_endpoint)
        return self._publisher

    def subscriber(self, topics: list[str] | tuple[str, ...]) -> Subscriber:
        """A new bus subscriber on `topics` (closed by the runner at exit)."""
        from engines.bus import Subscriber

        sub = Subscriber(self.bus_sub_endpoint, topics)
        self._subscribers.append(sub)
        return sub

    def close(self) -> None:
        """Close bus sockets and rings (the runner calls this after on_stop)."""
        for sub in self._subscribers:
            sub.close()
        if self._publisher is not None:
            self._publisher.close()
        for reader in self.readers.values():
            reader.close()
        for writer in self.writers.values():
            writer.close()


NEVER_NS = 1 << 62  # an Engine.overdue_ns that is never reached


class Engine:
    """Subclass and override the hooks; the runner calls them in this order.

    on_start() once (rings and bus attached; the runner sets ready when it returns), then
    poll() repeatedly (one non-blocking batch of work, returns records processed), then on
    SIGTERM on_stop() (drain in-flight work, flush writers) and the process exits 0.

    `counters` names the custom status words W_CUSTOM0.. in order (engines.counters):
    nautilusctl status, /metrics and the dashboard show them by these names.

    `params_spec`: the frozen dataclass of the engine's params (fields made with
    engines.params.param); nautilusd checks [engines.<name>.params] against it in `check`,
    at start and on reload, before any engine restarts. None: params are not checked.
    """

    counters: ClassVar[tuple[str, ...]] = ()
    params_spec: ClassVar[type | None] = None
    # The runner calls on_overdue(now) after a busy poll once time.monotonic_ns() reaches
    # this: work an engine keeps for its idle moments (service requests, the bus) is not
    # left waiting by input that never stops. NEVER_NS: no such work.
    overdue_ns: int = NEVER_NS

    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        self.log = ctx.log

    def on_start(self) -> None:
        """Prepare: open files, warm caches. Ready is reported when this returns."""

    def poll(self) -> int:
        """One non-blocking iteration of work; return records processed (0 = idle)."""
        return 0

    def next_wakeup_s(self) -> float | None:
        """Longest the runner may wait when idle (producers and timers); None = until input."""
        return None

    def on_overdue(self, now_ns: int) -> None:
        """The idle work, between two busy polls once `overdue_ns` is reached; it sets the
        next `overdue_ns` (or the same would be called again at the next busy poll)."""
        self.overdue_ns = NEVER_NS

    def wait_handles(self) -> list[Pollable]:
        """Extra pollables (zmq sockets, fds) that should wake the engine when readable."""
        return []

    def on_stop(self) -> None:
        """Drain after SIGTERM: finish in-flight work and flush writers."""
