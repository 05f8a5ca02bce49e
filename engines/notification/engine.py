"""The notification engine: `risk.alerts.*` and `system.engine.*` become structured log
records with journald priorities; an optional webhook (off by default) gets them as JSON.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import Any

from engines.base import Engine
from engines.params import parse_params
from shm.status import W_ERRORS, W_RECORDS_IN, W_RECORDS_OUT

# structlog method per lifecycle event; engines.log maps each to its journald PRIORITY
# (critical 2, error 3, warning 4, info 6).
SYSTEM_LEVELS = {"fatal": "critical", "escalated": "critical", "spawn_failed": "error",
                 "backoff": "error", "exited": "error", "killed": "error",
                 "not_restarted": "error", "group_restart": "warning", "restarting": "warning",
                 "removed": "warning", "reader_released": "error", "stopping": "info",
                 "stopped": "info",
                 "spawned": "info", "ready": "info"}


def level_for(topic: str) -> str:
    """The log level of a bus topic: kill switch critical, other risk alerts warnings."""
    if topic.startswith("risk.alerts.kill_switch"):
        return "critical"
    if topic.startswith("risk."):
        return "warning"
    return SYSTEM_LEVELS.get(topic.rsplit(".", 1)[-1], "info")


@dataclass(frozen=True, kw_only=True, slots=True)
class NotificationParams:
    webhook_url: str = ""  # "" = off; otherwise every alert is POSTed as JSON
    webhook_timeout_s: float = 2.0
    topics: tuple[str, ...] = ("risk.alerts.", "system.engine.")


class NotificationEngine(Engine):
    params_spec = NotificationParams

    def on_start(self) -> None:
        self.p = parse_params(NotificationParams, self.ctx.params,
                              f"engines.{self.ctx.name}.params")
        self.sub = self.ctx.subscriber(list(self.p.topics))

    def poll(self) -> int:
        n = 0
        while n < 256 and (msg := self.sub.recv(0)) is not None:
            self.notify(*msg)
            n += 1
        return n

    def notify(self, topic: str, payload: Any) -> None:
        level = level_for(topic)
        fields = payload if isinstance(payload, dict) else {"payload": payload}
        safe = {f"alert_{k}" if k in ("event", "level", "engine") else k: v
                for k, v in fields.items()}
        getattr(self.log, level)("notification", topic=topic, **safe)
        self.ctx.status.add(W_RECORDS_IN, 1)
        if self.p.webhook_url:
            self._post({"topic": topic, "level": level, "payload": fields})

    def _post(self, doc: dict[str, Any]) -> None:
        request = urllib.request.Request(
            self.p.webhook_url, data=json.dumps(doc, default=str).encode(),
            headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.p.webhook_timeout_s):
                self.ctx.status.add(W_RECORDS_OUT, 1)
        except OSError as exc:
            self.ctx.status.add(W_ERRORS, 1)
            self.log.warning("webhook_failed", url=self.p.webhook_url, error=str(exc))

    def wait_handles(self) -> list[Any]:
        return [self.sub.socket]
