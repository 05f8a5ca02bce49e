"""Lifecycle events: each is one structured log record and one call to every listener.

Listeners (the bus proxy, systemd notifications, tests) get `(name, event, fields)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from nautilusd.log import get_logger

EventListener = Callable[[str, str, dict[str, Any]], None]


class EventSource(Protocol):
    """What emits lifecycle events (the supervisor): listeners subscribe here."""

    def add_event_listener(self, callback: EventListener) -> None: ...

# Log level of the lifecycle events that are not routine.
LEVELS = {"fatal": "error", "escalated": "error", "spawn_failed": "error", "killed": "warning",
          "exited": "warning", "backoff": "warning", "group_restart": "warning",
          "reader_released": "warning", "upgrade_failed": "error"}


class EventSink:
    """Logs each lifecycle event and hands it to every listener (bus proxy, systemd, tests).

    `defer(fn)`, when set (the daemon: run `fn` once the current loop step is done), writes
    the log records after the step that emitted them: a restart's exited, restarting and
    spawned records are rendered after the spawn instead of before it."""

    def __init__(self, defer: Callable[[Callable[[], object]], object] | None = None) -> None:
        self.log = get_logger(engine="nautilusd")
        self.listeners: list[EventListener] = []
        self.defer = defer

    def emit(self, name: str, event: str, fields: dict[str, Any]) -> None:
        # Listeners first: the bus event leaves before the log record is rendered and
        # written (a few hundred us for a warning), which would otherwise delay every
        # observer of an exit by that much.
        for listener in self.listeners:
            try:
                listener(name, event, fields)
            except Exception:  # a broken listener must not stop supervision
                self.log.exception("event_listener_failed", listener=repr(listener))
        record = getattr(self.log, LEVELS.get(event, "info"))
        if self.defer is None:
            record(f"engine_{event}", target=name, **fields)
        else:
            self.defer(lambda: record(f"engine_{event}", target=name, **fields))
