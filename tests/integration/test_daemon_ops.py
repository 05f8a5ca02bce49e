"""A live `nautilusd run` seen from operations: sd_notify on a real NOTIFY_SOCKET (READY after
the engines, watchdog pings gated on the critical group, STOPPING) and /metrics, /health."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parents[2]
NAUTILUSD = Path(sys.executable).with_name("nautilusd")
WATCHDOG_USEC = 400_000  # pings every 0.2 s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def topology(shm_dir: Path, port: int) -> str:
    """alpha is critical, fails after 3 s and may not restart (FATAL); beta is ordinary."""
    return (
        f'[supervisor]\ninstance = "ops{uuid.uuid4().hex[:6]}"\nshm_dir = "{shm_dir}"\n'
        f'metrics_address = "127.0.0.1:{port}"\n\n'
        '[groups.critical]\ncritical = true\n\n'
        '[engines.alpha]\nentry = "engines.reference:ReferenceEngine"\ncpus = [0]\n'
        'group = "critical"\nrestart = "on-failure"\nmax_restarts = 0\n'
        'params = { crash_after_s = 3.0 }\n\n'
        '[engines.beta]\nentry = "engines.reference:ReferenceEngine"\ncpus = [1]\n'
    )


class NotifyListener:
    """The test's stand-in for systemd's notify socket: collects every datagram, timestamped."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages: list[tuple[float, list[str]]] = []

    def until(self, line: str, timeout_s: float) -> float:
        """Receive until a datagram holds `line`; returns its arrival time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                lines = self.sock.recv(4096).decode().split("\n")
            except TimeoutError:
                break
            self.messages.append((time.monotonic(), lines))
            if line in lines:
                return self.messages[-1][0]
        raise AssertionError(f"no {line!r} within {timeout_s} s; got {self.messages}")

    def drain(self) -> None:
        """Take whatever is queued now, without waiting (call it while polling elsewhere)."""
        self.sock.setblocking(False)
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return
            self.messages.append((time.monotonic(), data.decode().split("\n")))

    def pings_after(self, t: float) -> int:
        return sum(1 for at, lines in self.messages if at > t and "WATCHDOG=1" in lines)


@pytest.fixture
def daemon(shm_dir: Path, runtime_dir: Path) -> Iterator[dict[str, Any]]:
    port = free_port()
    config = runtime_dir / "ops.toml"
    config.write_text(topology(shm_dir, port))
    listener = NotifyListener(str(runtime_dir / "notify.sock"))
    env = {**os.environ, "NOTIFY_SOCKET": str(runtime_dir / "notify.sock"),
           "WATCHDOG_USEC": str(WATCHDOG_USEC), "PYTHONPATH": str(ROOT)}
    env.pop("JOURNAL_STREAM", None)
    log = (runtime_dir / "daemon.log").open("w")
    proc = subprocess.Popen(
        [str(NAUTILUSD), "run", "--config", str(config), "--runtime-dir", str(runtime_dir / "rt")],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        yield {"proc": proc, "notify": listener, "url": f"http://127.0.0.1:{port}",
               "log": runtime_dir / "daemon.log"}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        log.close()
        listener.sock.close()


def tail(log: Path) -> str:
    return "\n".join(log.read_text().splitlines()[-15:])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read().decode()


def test_daemon_when_critical_engine_dies_stops_watchdog_and_reports_down(
    daemon: dict[str, Any],
) -> None:
    """READY=1 after both engines, metrics and pings while healthy; a FATAL critical engine
    stops the pings and turns /health to 503; SIGTERM sends STOPPING=1 and leaves nothing."""
    notify: NotifyListener = daemon["notify"]
    ready_at = notify.until("READY=1", 30)
    status_lines = [ln for _, lines in notify.messages for ln in lines if ln.startswith("STATUS=")]
    assert status_lines and "2/2 engines ready" in status_lines[-1]
    _, text = get(daemon["url"] + "/metrics")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("nautilusd_engine_up", (("engine", "alpha"), ("group", "critical")))] == 1
    assert samples[("nautilusd_engine_up", (("engine", "beta"), ("group", "default")))] == 1
    assert get(daemon["url"] + "/health")[0] == 200
    engines = [p.pid for p in psutil.Process(daemon["proc"].pid).children(recursive=True)]
    notify.until("WATCHDOG=1", 5)
    # alpha crashes at ~3 s and is not restarted: FATAL in the critical group.
    deadline = time.monotonic() + 20
    while get(daemon["url"] + "/health")[0] != 503:
        assert time.monotonic() < deadline, f"health never 503: {tail(daemon['log'])}"
        notify.drain()
        time.sleep(0.05)
    health = json.loads(get(daemon["url"] + "/health")[1])
    assert health["status"] == "down" and health["critical_fatal"] == ["alpha"]
    notify.drain()  # pings sent before the engine went FATAL
    fatal_at = time.monotonic()
    with pytest.raises(AssertionError):
        notify.until("WATCHDOG=1", 10 * WATCHDOG_USEC / 1e6)
    assert notify.pings_after(fatal_at) == 0
    assert notify.pings_after(ready_at) >= 2
    daemon["proc"].send_signal(signal.SIGTERM)
    notify.until("STOPPING=1", 10)
    assert daemon["proc"].wait(timeout=20) == 0
    assert not [p for p in engines if psutil.pid_exists(p)
                and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_status_when_metrics_enabled_reports_metrics_url(
    daemon: dict[str, Any], runtime_dir: Path,
) -> None:
    """`nautilusctl status --json` carries the URL Prometheus should scrape."""
    daemon["notify"].until("READY=1", 30)
    result = subprocess.run(
        [str(NAUTILUSD.with_name("nautilusctl")), "status", "--runtime-dir",
         str(runtime_dir / "rt"), "--json"], capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["daemon"]["metrics_url"] == daemon["url"] + "/metrics"
