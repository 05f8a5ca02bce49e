"""The chaos rig: one real `nautilusd run` subprocess, its control socket, its lifecycle events.

Everything the fault injector needs to see from outside: engine pids and states (`status`),
lifecycle events from the bus (`system.engine.<name>.<event>`, stamped on arrival) and ring
stats read from the segments; it also SIGKILLs and restarts nautilusd itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from engines.bus import Subscriber
from nautilusd import paths
from nautilusd.ctl.client import ControlClient, DaemonNotRunning, RemoteError, RequestTimeout
from shm.errors import ShmError
from shm.ring import ring_stats

ROOT = Path(__file__).resolve().parents[2]
CONTROL_TIMEOUT_MS = 3_000


class RigError(Exception):
    """The pipeline under test did something the chaos run cannot continue from."""


@dataclass(frozen=True, slots=True)
class Event:
    """One lifecycle event as received: monotonic arrival time, engine, event, payload."""

    at: float
    name: str
    event: str
    fields: dict[str, Any]


class Rig:
    """Start, watch, kill and restart nautilusd with the chaos config."""

    def __init__(self, config: Path, runtime_dir: Path, shm_dir: Path, instance: str) -> None:
        self.config = config
        self.runtime_dir = runtime_dir
        self.shm_dir = shm_dir
        self.instance = instance
        self.proc: subprocess.Popen[bytes] | None = None
        self.events: list[Event] = []
        self._sub: Subscriber | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0
        self.ticks_readers: list[str] = []  # the ticks ring's readers in slot order

    # -- the daemon process ------------------------------------------------------------------

    def start(self) -> None:
        if self._log is not None:  # the previous daemon's (it has its own copy of the fd)
            self._log.close()
        # Beside the runtime dir, not in it: a reboot removes the runtime dir.
        self._log = (self.runtime_dir.parent / f"nautilusd.{self.starts}.log").open("wb")
        self.starts += 1
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nautilusd.main", "run", "--config", str(self.config)],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
        self._subscribe()

    def _subscribe(self) -> None:
        if self._sub is not None:
            self._sub.socket.close(linger=0)
        self._sub = Subscriber(paths.bus_sub_endpoint(self.runtime_dir), ["system.engine."])

    def kill_daemon(self) -> int:
        """SIGKILL nautilusd (its engines die with it); returns its pid."""
        proc = self._running()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        return proc.pid

    def stop_daemon(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait: the graceful ordered shutdown; returns the exit code."""
        proc = self._running()
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
            raise RigError(f"nautilusd did not stop within {timeout_s} s") from None

    def close(self) -> None:
        """Leave nothing running: kill the daemon's process group if it is still there."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        if self._sub is not None:
            self._sub.socket.close(linger=0)
            self._sub = None
        if self._log is not None:
            self._log.close()

    def _running(self) -> subprocess.Popen[bytes]:
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            raise RigError(f"nautilusd is not running (exit code {code}); see {self.runtime_dir}")
        return self.proc

    # -- control ------------------------------------------------------------------------------

    def request(self, cmd: str, **args: Any) -> Any:
        self._running()
        with ControlClient(paths.control_endpoint(self.runtime_dir),
                           timeout_ms=CONTROL_TIMEOUT_MS) as client:
            return client.request(cmd, **args)

    def engines(self) -> dict[str, dict[str, Any]]:
        """name -> the engine's row of `nautilusctl status --json` ({} while unreachable)."""
        try:
            doc = self.request("status")
        except (DaemonNotRunning, RequestTimeout, RemoteError):
            return {}
        if doc["daemon"]["pid"] != self._running().pid:
            return {}
        return {e["name"]: e for e in doc["engines"]}

    def pid(self, name: str) -> int:
        """The running pid of engine `name`; RigError when it has none (never 0: kill(0) would
        signal our own process group)."""
        pid = int(self.engines().get(name, {}).get("pid") or 0)
        if pid <= 0:
            raise RigError(f"engine {name!r} has no running process")
        return pid

    def all_ready(self) -> bool:
        rows = self.engines()
        return bool(rows) and all(r["state"] == "READY" for r in rows.values())

    def wait_until(self, condition: Any, timeout_s: float, poll_s: float = 0.01) -> bool:
        """Poll `condition()` (draining events meanwhile) until true or `timeout_s` passes."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.pump(0)
            if condition():
                return True
            if time.monotonic() > deadline:
                return False
            self.pump(int(poll_s * 1000))

    # -- events and rings ------------------------------------------------------------------------

    def pump(self, timeout_ms: int) -> None:
        """Move every lifecycle event that arrived (waiting up to `timeout_ms`) to `events`."""
        if self._sub is None:
            return
        msg = self._sub.recv(timeout_ms)
        while msg is not None:
            topic, payload = msg
            _, _, name, event = topic.split(".", 3)
            self.events.append(Event(time.monotonic(), name, event, dict(payload)))
            msg = self._sub.recv(0)

    def event_after(self, since: float, name: str, event: str, not_pid: int = 0) -> Event | None:
        """The first `event` of engine `name` that arrived after `since` (from another pid)."""
        for ev in self.events:
            if ev.at >= since and ev.name == name and ev.event == event and (
                not not_pid or ev.fields.get("pid") != not_pid
            ):
                return ev
        return None

    def ring(self, ring: str) -> dict[str, Any]:
        try:
            return ring_stats(paths.ring_segment(self.instance, ring), directory=self.shm_dir)
        except ShmError:
            return {}
