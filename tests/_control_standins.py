"""Stand-ins for the control-plane tests: a supervisor meeting the commands' SupervisorApi
and a served daemon.

The supervisor is pure logic over a dict of engines; sockets, loop and the ControlServer are
real. `ServedControl` runs the loop in a thread that owns every socket it creates.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import zmq

from nautilusd.errors import UnknownTargetError

try:
    from nautilusd.loop import EventLoop
except ImportError:  # until the daemon's loop exists: the same interface, minimal
    EventLoop = None  # type: ignore[assignment,misc]


class MiniLoop:
    """Interface 4 in a few lines: readers on a zmq.Poller, one-shot timers, stop()."""

    def __init__(self) -> None:
        self._poller = zmq.Poller()
        self._readers: dict[Any, Callable[[], None]] = {}
        self._timers: list[tuple[float, Callable[[], None]]] = []
        self._running = False

    def now(self) -> float:
        return time.monotonic()

    def add_reader(self, pollable: Any, callback: Callable[[], None]) -> None:
        self._poller.register(pollable, zmq.POLLIN)
        self._readers[pollable] = callback

    def remove_reader(self, pollable: Any) -> None:
        self._poller.unregister(pollable)
        del self._readers[pollable]

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> None:
        self._timers.append((self.now() + delay_s, callback))

    def stop(self) -> None:
        self._running = False

    def run(self) -> None:
        self._running = True
        while self._running:
            due = [t for t in self._timers if t[0] <= self.now()]
            for timer in due:
                self._timers.remove(timer)
                timer[1]()
            wait_ms = 5 if self._timers else 200
            for pollable, _ in self._poller.poll(wait_ms):
                self._readers[pollable]()


def make_loop() -> Any:
    return EventLoop() if EventLoop is not None else MiniLoop()


class FakeSupervisor:
    """The commands' SupervisorApi over plain dicts: enough to drive every control command."""

    def __init__(self, names: tuple[str, ...] = ("marketdata", "strategy", "risk")) -> None:
        self.loop: Any = None
        self.shutting_down = False
        self.topology = SimpleNamespace(source=Path("/nonexistent/base.toml"), rings={},
                                        supervisor=SimpleNamespace(metrics_address=None))
        self.engines = {n: {"name": n, "state": "READY", "pid": 1000 + i, "cpus": [0],
                            "group": "critical" if n == "risk" else "default", "ready": True,
                            "restarts": 0, "uptime_s": 1.5, "heartbeat_age_ms": 3.0,
                            "last_exit": None, "counters": {"records_in": 7}}
                        for i, n in enumerate(names)}
        self.health_code = 0
        self.calls: list[tuple[str, Any]] = []
        self.raise_on_status: Exception | None = None

    @property
    def instances(self) -> dict[str, dict[str, Any]]:
        return self.engines

    def _targets(self, target: str) -> list[str]:
        if target == "all":
            return list(self.engines)
        found = [n for n, e in self.engines.items() if target in (n, e["group"])]
        if not found:
            raise UnknownTargetError(target, self.engines)
        return found

    def status(self) -> dict[str, Any]:
        if self.raise_on_status is not None:
            raise self.raise_on_status
        rings = [{"name": "ticks", "capacity": 1024, "policy": "overwrite", "writer": "marketdata",
                  "writer_pid": 1000, "cursor": 500, "published_total": 500,
                  "backpressure_waits": 0, "latest_slots": 4, "readers": [
                      {"index": 0, "name": "strategy", "pid": 1001, "active": True,
                       "cursor": 256, "lag": 244, "lost": 2, "parked": False}]}]
        return {"daemon": {"pid": os.getpid(), "instance": "test", "uptime_s": 2.0,
                           "metrics_url": None},
                "engines": [dict(e) for e in self.engines.values()], "rings": rings}

    def start(self, target: str) -> list[str]:
        return self._record("start", target, "READY")

    def stop(self, target: str) -> list[str]:
        return self._record("stop", target, "STOPPED")

    def restart(self, target: str) -> list[str]:
        return self._record("restart", target, "READY")

    def _record(self, what: str, target: str, state: str) -> list[str]:
        names = self._targets(target)
        self.calls.append((what, target))
        for n in names:
            self.engines[n]["state"] = state
        return names

    def reload(self, topology: Any) -> dict[str, list[str]]:
        self.calls.append(("reload", topology))
        return {"added": [], "changed": ["risk"], "removed": []}

    def scale(self, engine: str, n: int) -> list[str]:
        self._targets(engine)
        return [f"{engine}-{i}" for i in range(n)]

    def pin(self, engine: str, cpus: list[int]) -> list[int]:
        self._targets(engine)[0]
        self.engines[engine]["cpus"] = list(cpus)
        return list(cpus)

    def health(self) -> tuple[int, dict[str, Any]]:
        words = {0: "healthy", 1: "degraded", 2: "down"}
        return self.health_code, {"status": words[self.health_code], "code": self.health_code,
                                  "fatal": [], "not_ready": [], "reasons": []}

    def shutdown(self) -> None:
        self.calls.append(("shutdown", None))
        self.loop.stop()


class ServedControl:
    """A real ControlServer on a real ipc socket, served by a loop in its own thread."""

    def __init__(self, runtime_dir: Path, supervisor: FakeSupervisor | None = None,
                 **server_kwargs: Any) -> None:
        self.endpoint = f"ipc://{runtime_dir}/control.sock"
        self.supervisor = supervisor or FakeSupervisor()
        self.server: Any = None
        self._kwargs = server_kwargs
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> ServedControl:
        self._thread.start()
        if not self._ready.wait(10) or self._error:
            raise RuntimeError(f"control server did not start: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self._stop_via_socket()
        self._thread.join(10)
        assert not self._thread.is_alive(), "control server thread did not stop"

    def _stop_via_socket(self) -> None:
        """Ask for a shutdown over the socket: the loop is only ever touched from its thread."""
        from nautilusd.ctl.client import ControlClient

        deadline = time.monotonic() + 5
        while self._thread.is_alive() and time.monotonic() < deadline:
            try:
                with ControlClient(self.endpoint, timeout_ms=200) as client:
                    client.request("shutdown")
            except Exception:
                pass
            self._thread.join(0.05)

    def _serve(self) -> None:
        from nautilusd.control.server import ControlServer

        try:
            loop = make_loop()
            self.supervisor.loop = loop
            self.server = ControlServer(self.endpoint, self.supervisor, loop, **self._kwargs)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run()
        finally:
            self.server.close()
