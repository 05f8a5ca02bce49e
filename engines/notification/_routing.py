"""Which channels an alert goes to, and whether it is a duplicate: pure logic, testable.

Severity routing: every channel whose `min_severity` the alert reaches. Escalation: `routes`
maps a topic prefix to channels that get the alert whatever their threshold (so
`risk.alerts.kill_switch` -> webhook + email at once). Dedupe: one alert per key
(topic + the payload's "key", if any) within `dedupe_window_s`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from engines.notification._channels import SEVERITIES, ChannelConfig


class Router:
    def __init__(self, channels: Mapping[str, ChannelConfig],
                 routes: Mapping[str, tuple[str, ...]], dedupe_window_s: float) -> None:
        self.channels, self.routes, self.window_s = channels, routes, dedupe_window_s
        self.seen: dict[str, float] = {}  # dedupe key -> wall time first delivered
        self.duplicates = 0

    def remember(self, key: str, at_s: float) -> None:
        self.seen[key] = max(self.seen.get(key, at_s), at_s)

    def route(self, topic: str, severity: str, payload: Any,
              now_s: float) -> tuple[dict[str, Any], list[str]] | None:
        """(alert, channel names), or None for a duplicate within the window (counted)."""
        key = topic + (f"#{payload['key']}" if isinstance(payload, dict) and "key" in payload
                       else "")
        first = self.seen.get(key)
        if first is not None and now_s - first < self.window_s:
            self.duplicates += 1
            return None
        self.seen[key] = now_s
        if len(self.seen) > 10_000:
            self.seen = {k: t for k, t in self.seen.items() if now_s - t < self.window_s}
        rank = SEVERITIES.index(severity)
        names = [n for n, c in self.channels.items() if SEVERITIES.index(c.min_severity) <= rank]
        for prefix, extra in self.routes.items():
            if topic.startswith(prefix):
                names.extend(n for n in extra if n not in names)
        alert = {"id": uuid.uuid4().hex, "topic": topic, "severity": severity, "key": key,
                 "ts": now_s, "payload": payload}
        return alert, names
