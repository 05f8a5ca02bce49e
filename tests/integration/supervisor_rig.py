"""A real Supervisor on a real forkserver in this process, for integration tests.

Engines are real processes; the test drives the event loop until a condition holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any

from engines.spec import EngineConfig
from nautilusd.config.model import GroupConfig, SupervisorConfig, Topology
from nautilusd.host import RealHost
from nautilusd.launch import LaunchPaths
from nautilusd.loop import EventLoop
from nautilusd.supervisor import Supervisor
from shm.status import StatusTable

REFERENCE = "engines.reference:ReferenceEngine"


def engine(name: str, **kw: Any) -> EngineConfig:
    kw.setdefault("entry", REFERENCE)
    kw.setdefault("backoff_jitter", 0.0)
    if "params" in kw:
        kw["params"] = MappingProxyType(kw["params"])
    return EngineConfig(name=name, **kw)


class Rig:
    def __init__(self, sup: Supervisor, loop: EventLoop) -> None:
        self.sup = sup
        self.loop = loop
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        sup.add_event_listener(lambda n, e, f: self.events.append((n, e, f)))

    def until(self, condition: Callable[[], Any], timeout_s: float = 10.0) -> Any:
        """Run the loop until `condition()` is truthy; fail after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout_s} s")
            self.loop.run_once(0.01)

    def inst(self, name: str) -> Any:
        return self.sup.instances[name]

    def state(self, name: str) -> str:
        return self.sup.instances[name].state.name

    def all_ready(self) -> bool:
        return self.sup.all_ready()


@contextmanager
def running(shm_dir: Path, *engines: EngineConfig, groups: tuple[GroupConfig, ...] = ()
            ) -> Iterator[Rig]:
    """Start `engines` under a real supervisor; stop everything and clean up on exit."""
    topo = Topology(source=Path("rig.toml"), supervisor=SupervisorConfig(shm_dir=shm_dir),
                    groups=MappingProxyType({g.name: g for g in groups}),
                    rings=MappingProxyType({}), engines=MappingProxyType({e.name: e
                                                                           for e in engines}))
    loop = EventLoop()
    table = StatusTable.create("nautilusd.rig.status", 16, directory=shm_dir)
    host = RealHost(loop)
    try:
        host.start()
        sup = Supervisor(topo, host, loop, table, paths=LaunchPaths(
            status_segment="nautilusd.rig.status", shm_dir=shm_dir, runtime_dir=shm_dir))
        rig = Rig(sup, loop)
        sup.start_all()
        yield rig
        stopped: list[bool] = []
        sup.add_stopped_listener(lambda: stopped.append(True))
        sup.shutdown()
        rig.until(lambda: stopped, timeout_s=15)
    finally:
        host.close()
        table.close()
        table.segment.unlink()
