"""Notification that arrives: a real nautilusd runs the notification engine; a webhook
receiver that fails its first two calls and answers slowly, and a real SMTP server
(aiosmtpd), receive every alert exactly once per dedupe window, including one queued just
before the engine was SIGKILLed; the slow channel never gets the engine killed as hung."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import start_daemon, status_rows, stop, wait_ready

from engines.bus import Publisher
from nautilusd import paths
from nautilusd.config.tomlwriter import toml_document

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
SLOW_S = 1.5  # each webhook answer takes this long: past the engine's 1 s liveness timeout


class Receiver(BaseHTTPRequestHandler):
    calls: list[dict[str, Any]]
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(SLOW_S)
        with self.lock:
            self.calls.append(body)
            failing = len(self.calls) <= 2  # the first two calls fail
        self.send_response(503 if failing else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    calls: list[dict[str, Any]] = []
    handler = type("H", (Receiver,), {"calls": calls})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", calls
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp() -> Iterator[tuple[int, list[Any]]]:
    from aiosmtpd.controller import Controller

    mails: list[Any] = []

    class Handler:
        async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
            mails.append(message_from_bytes(envelope.content))
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port, mails
    controller.stop()


def _config(runtime_dir: Path, shm_dir: Path, hook: str, smtp_port: int) -> tuple[Path, str]:
    instance = f"notif{uuid.uuid4().hex[:6]}"
    params = {"channels": {
        "ops": {"kind": "webhook", "url": hook, "min_severity": "warning", "timeout_s": 10.0},
        "mail": {"kind": "email", "smtp_port": smtp_port, "to": ["desk@example.org"],
                 "min_severity": "critical"}},
        "routes": {"risk.alerts.kill_switch": ["ops", "mail"]},
        "topics": ["risk.alerts."], "retry_initial_ms": 100.0}
    doc = {"supervisor": {"instance": instance, "shm_dir": str(shm_dir), "metrics_address": "",
                          "log_level": "warning", "shutdown_timeout_ms": 5000},
           "engines": {"notification": {"entry": "engines.notification:NotificationEngine",
                                        "liveness_timeout_ms": 1000, "params": params}}}
    path = runtime_dir / "n.toml"
    path.write_text(toml_document(doc))
    return path, instance


def _until(cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _keys(calls: list[dict[str, Any]], ok_from: int = 2) -> list[str]:
    """Dedupe keys of the alerts in every accepted webhook call (the first two failed)."""
    return [a["payload"]["key"] for body in calls[ok_from:] for a in body["alerts"]]


def test_alerts_when_channel_fails_slow_and_engine_killed_arrive_exactly_once(
    shm_dir: Path, runtime_dir: Path, webhook: tuple[str, list[dict[str, Any]]],
    smtp: tuple[int, list[Any]],
) -> None:
    """Two failed calls are retried, a duplicate is suppressed, the alert queued before a
    SIGKILL is delivered after the restart, each alert reaches each channel once."""
    hook, calls = webhook
    smtp_port, mails = smtp
    config, instance = _config(runtime_dir, shm_dir, hook, smtp_port)
    proc = start_daemon(config, runtime_dir)
    pub = None
    try:
        wait_ready(shm_dir, {"notification"}, proc, instance=instance, timeout_s=60)
        pub = Publisher(paths.bus_pub_endpoint(runtime_dir / "rt"))
        _until(lambda: (pub.publish("risk.alerts.probe", {"key": "probe"}), calls)[1] != [],
               20, "the first alert (the publisher joins late)")
        pub.publish("risk.alerts.kill_switch", {"key": "A", "engaged": True})
        pub.publish("risk.alerts.kill_switch", {"key": "A", "engaged": True})  # duplicate
        pub.publish("risk.alerts.rate_limit", {"key": "B"})
        _until(lambda: {"probe", "A", "B"} <= set(_keys(calls)), 60, "probe, A and B")
        assert status_rows(shm_dir, instance)["notification"]["restarts"] == 0, \
            "a slow channel got the engine restarted"
        outbox = Path(os.environ["XDG_STATE_HOME"]) / "nautilusd" / instance
        pub.publish("risk.alerts.kill_switch", {"key": "C", "engaged": True})
        _until(lambda: b'"C"' in b"".join(p.read_bytes() for p in outbox.rglob("*.outbox")),
               10, "C in the outbox")
        os.kill(status_rows(shm_dir, instance)["notification"]["pid"], signal.SIGKILL)
        _until(lambda: "C" in _keys(calls) and len(mails) >= 2, 90, "C after the restart")
        time.sleep(0.5)  # anything sent twice would have arrived by now
        assert status_rows(shm_dir, instance)["notification"]["restarts"] == 1
    finally:
        if pub is not None:
            pub.close()
        assert stop(proc) == 0
    keys = _keys(calls)
    assert sorted(k for k in keys if k != "probe") == ["A", "B", "C"], keys
    mailed = [a["payload"]["key"] for m in mails
              for a in json.loads(m.get_payload())["alerts"]]
    assert sorted(mailed) == ["A", "C"], mailed
