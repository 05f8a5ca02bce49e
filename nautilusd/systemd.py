"""sd_notify for nautilusd under systemd (Type=notify): READY, STATUS, WATCHDOG, STOPPING.

`Notifier` speaks the notify protocol on $NOTIFY_SOCKET and is a no-op elsewhere;
`WatchdogGate` pings the watchdog only while the critical group is healthy, so a FATAL
critical engine makes systemd restart the whole unit.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from nautilusd.states import State

NOTIFY_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


class Notifier:
    """One process's channel to systemd. Every method returns False instead of raising."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = address  # "\0name" for an abstract socket, else a path; None: no-op
        self.watchdog_usec = watchdog_usec
        self.sent = 0
        self.failed = 0
        self._sock: socket.socket | None = None

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, unset_environment: bool = False,
    ) -> Notifier:
        """From $NOTIFY_SOCKET ('@name' = abstract) and $WATCHDOG_USEC / $WATCHDOG_PID.

        With `unset_environment`, the variables are removed from os.environ so that the
        engines nautilusd spawns do not inherit them.
        """
        source = os.environ if env is None else env
        raw = source.get("NOTIFY_SOCKET") or None
        address = "\0" + raw[1:] if raw and raw.startswith("@") else raw
        watchdog_usec = _watchdog_usec(source)
        if unset_environment:
            for key in NOTIFY_ENV:
                os.environ.pop(key, None)
        return cls(address, watchdog_usec)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *assignments: str) -> bool:
        """Send `KEY=value` lines in one datagram; False when not under systemd or it failed."""
        if self.address is None:
            return False
        try:
            # Never block the event loop: a notify queue that is full (nobody reading) costs
            # this one message, counted, not the daemon's responsiveness.
            self._socket().sendto("\n".join(assignments).encode(), socket.MSG_DONTWAIT,
                                  self.address)
        except OSError:
            self.failed += 1
            return False
        self.sent += 1
        return True

    def ready(self, status: str | None = None) -> bool:
        """READY=1: call once every engine of the startup set is ready."""
        return self.notify("READY=1", *([_status(status)] if status is not None else []))

    def status(self, line: str) -> bool:
        return self.notify(_status(line))

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def reloading(self) -> bool:
        return self.notify("RELOADING=1")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def watchdog_interval_s(self) -> float | None:
        """How often to ping: half of WatchdogSec; None when the watchdog is off for us."""
        if not self.enabled or not self.watchdog_usec:
            return None
        return self.watchdog_usec / 2 / 1e6

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _socket(self) -> socket.socket:
        if self._sock is None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        return self._sock


def _watchdog_usec(env: Mapping[str, str]) -> int | None:
    # WATCHDOG_PID names the process the watchdog is meant for; anyone else must not ping.
    pid = env.get("WATCHDOG_PID")
    if pid and pid.strip() != str(os.getpid()):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec if usec > 0 else None


def _status(line: str) -> str:
    return "STATUS=" + " ".join(line.split())  # STATUS is one line: fold any newlines


class WatchdogGate:
    """Pings the watchdog only while `healthy()` holds; call `tick` every watchdog interval."""

    def __init__(self, notifier: Notifier, healthy: Callable[[], bool]) -> None:
        self.notifier = notifier
        self.healthy = healthy
        self.pings = 0
        self.withheld = 0

    def tick(self) -> bool:
        """Ping if healthy; returns whether a ping was sent."""
        if not self.healthy():
            self.withheld += 1
            return False
        self.pings += 1
        return self.notifier.watchdog()


def summary_line(engines: Iterable[Mapping[str, Any]]) -> str:
    """The one-line STATUS= summary of the engine rows of a `Supervisor.status()` document,
    e.g. `7/8 engines ready, 3 restarts, fatal: risk`."""
    rows = list(engines)
    ready = sum(1 for e in rows if e.get("state") == State.READY.name)
    restarts = sum(int(e.get("restarts") or 0) for e in rows)
    fatal = [str(e.get("name")) for e in rows if e.get("state") == State.FATAL.name]
    line = f"{ready}/{len(rows)} engines ready, {restarts} restarts"
    return line + (f", fatal: {','.join(fatal)}" if fatal else "")
