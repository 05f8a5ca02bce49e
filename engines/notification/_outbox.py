"""The notification outbox: a durable log of alerts to deliver, in the state directory.

One JSON line per event: {"op": "queued", "id", "channel", "alert"} when an alert is routed
to a channel (fsynced before the engine moves on), {"op": "done", "id", "channel"} once the
channel accepted it. A restarted engine delivers every queued alert not done, and keeps the
dedupe keys of the window, so an alert queued before a SIGKILL arrives after it, once.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, Final

from engines.statedir import StateDir

FILE: Final = "notification.outbox"


class Outbox:
    """Append-only, shared by the engine loop (queued) and the delivery thread (done)."""

    def __init__(self, state: StateDir, keep_seen_s: float, name: str = FILE) -> None:
        self.state, self.name, self.keep_seen_s = state, name, keep_seen_s
        self._lock = threading.Lock()
        self.pending: dict[tuple[str, str], dict[str, Any]] = {}  # (id, channel) -> alert
        self.seen: dict[str, float] = {}  # dedupe key -> wall time, from every queued alert
        self._load()
        self.fd = state.open(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    def _load(self) -> None:
        """Pending alerts and recent dedupe keys from the file, then compact it to those."""
        raw = self.state.read(self.name) or b""
        now = time.time()
        for line in raw.splitlines():
            try:
                rec = json.loads(line)
                key = (str(rec["id"]), str(rec["channel"]))
            except (ValueError, KeyError, TypeError):
                continue  # a line torn by a crash mid-write: the alert was not fsynced yet
            if rec.get("op") == "queued":
                self.pending[key] = rec["alert"]
                self.seen[str(rec["alert"].get("key"))] = float(rec["alert"].get("ts", 0.0))
            elif rec.get("op") == "done":
                self.pending.pop(key, None)
        self.seen = {k: t for k, t in self.seen.items() if now - t < self.keep_seen_s}
        pending_keys = {a.get("key") for a in self.pending.values()}
        self.state.write_atomic(self.name, b"".join(
            [_line({"op": "queued", "id": i, "channel": c, "alert": a})
             for (i, c), a in self.pending.items()]
            + [_line({"op": "queued", "id": f"seen-{k}", "channel": "", "alert": {
                "key": k, "ts": t}}) + _line({"op": "done", "id": f"seen-{k}", "channel": ""})
               for k, t in self.seen.items() if k not in pending_keys]))

    def queued(self, alert_id: str, channel: str, alert: dict[str, Any]) -> None:
        with self._lock:
            self.pending[(alert_id, channel)] = alert
            os.write(self.fd, _line({"op": "queued", "id": alert_id, "channel": channel,
                                     "alert": alert}))
            os.fsync(self.fd)

    def done(self, alert_id: str, channel: str) -> None:
        with self._lock:
            if self.pending.pop((alert_id, channel), None) is not None:
                os.write(self.fd, _line({"op": "done", "id": alert_id, "channel": channel}))

    def close(self) -> None:
        os.close(self.fd)


def _line(rec: dict[str, Any]) -> bytes:
    return json.dumps(rec, separators=(",", ":"), default=str).encode() + b"\n"
