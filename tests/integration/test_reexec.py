"""`nautilusctl reexec` on a live daemon: same pid, same engine processes, same counters, and
a client polling `status` throughout never sees an error."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
from _ctl_daemon import Daemon

from nautilusd.control.protocol import decode_reply, encode_request
from nautilusd.ctl.client import ControlClient

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def daemon(tmp_path: Path, runtime_dir: Path, shm_dir: Path) -> Iterator[Daemon]:
    with Daemon(tmp_path, runtime_dir, shm_dir) as d:
        yield d


class StatusPoller(threading.Thread):
    """Asks `status` back to back, each time on a new connection (as nautilusctl does)."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(daemon=True)
        self.endpoint = endpoint
        self.errors: list[str] = []
        self.replies = 0
        self.reexecs_seen: set[int] = set()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                with ControlClient(self.endpoint, timeout_ms=5000) as client:
                    doc = client.request("status")
                self.replies += 1
                self.reexecs_seen.add(doc["daemon"]["reexecs"])
            except Exception as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.002)  # a tight but not spinning poll


def _snapshot(daemon: Daemon) -> dict[str, Any]:
    doc = daemon.status()
    return {"pid": doc["daemon"]["pid"],
            "engines": {e["name"]: (e["pid"], e["restarts"], e["generation"], e["state"])
                        for e in doc["engines"]}}


def test_reexec_when_polled_keeps_pids_counters_and_answers_throughout(daemon: Daemon) -> None:
    """Two re-executions in a row: nautilusd's pid, every engine's pid, restarts and
    generation stay; the poller got replies from both sides of each exec and no error."""
    before = _snapshot(daemon)
    poller = StatusPoller(daemon.endpoint)
    poller.start()
    try:
        for n in (1, 2):
            done = daemon.ctl("reexec", "--json")
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)["reexecs"] == n
            daemon.wait_for(lambda n=n: daemon.resumed(n))
        replies = poller.replies
        daemon.wait_for(lambda: poller.replies > replies + 20)
    finally:
        poller.done.set()
        poller.join(10)
    assert poller.errors == []
    assert {0, 1, 2} <= poller.reexecs_seen
    assert _snapshot(daemon) == before
    assert daemon.proc.poll() is None and daemon.proc.pid == before["pid"]


def test_reexec_after_reexec_still_supervises_engine_exits(daemon: Daemon) -> None:
    """An engine killed after the exec is seen exiting and restarted by the new image."""
    assert daemon.ctl("reexec").returncode == 0
    daemon.wait_for(lambda: daemon.resumed(1))
    old = daemon.pids()["beta"]
    os.kill(old, signal.SIGKILL)
    daemon.wait_for(lambda: daemon.engines()["beta"]["state"] == "READY"
                    and daemon.pids()["beta"] != old)
    assert daemon.engines()["beta"]["restarts"] == 1


def test_reexec_when_config_edited_since_reload_is_refused(daemon: Daemon) -> None:
    """A config file that differs from the running topology refuses the exec (exit 1)."""
    daemon.config.write_text(daemon.config.read_text().replace("max_restarts = 1",
                                                               "max_restarts = 2"))
    done = daemon.ctl("reexec")
    assert done.returncode == 1 and "reload first" in done.stderr
    assert daemon.status()["daemon"]["reexecs"] == 0


def test_run_when_handover_corrupt_refuses_it_and_starts_afresh(
        tmp_path: Path, runtime_dir: Path, shm_dir: Path) -> None:
    """A handover that does not parse is refused whole (logged) and nautilusd starts afresh
    from the config: every engine READY, no re-execution counted."""
    read_end, write_end = os.pipe()
    os.write(write_end, b"{not json")
    os.close(write_end)
    os.set_inheritable(read_end, True)
    env = {**os.environ, "NAUTILUSD_HANDOVER_FD": str(read_end),
           "NAUTILUSD_INHERITED_FDS": ""}
    d = Daemon(tmp_path, runtime_dir, shm_dir, env=env, pass_fds=(read_end,))
    os.close(read_end)
    try:
        assert d.status()["daemon"]["reexecs"] == 0
        assert "handover_refused" in d.read_log()
    finally:
        d.stop()


def _wait_resuming(endpoint: str, timeout_s: float = 20.0) -> bool:
    """Poll `status` until the new image's early control answers (a snapshot reply)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with ControlClient(endpoint, timeout_ms=10_000) as client:
            if client.request("status")["daemon"].get("resuming"):
                return True
        time.sleep(0.002)
    return False


def test_requests_when_sent_while_new_image_starts_are_answered_in_order(
        daemon: Daemon) -> None:
    """While the new image starts, `status` is answered from the handed-over snapshot
    (daemon.resuming); a `health` is left for the supervisor and so is everything sent after
    it: all five requests on one connection are answered, in the order sent, and no reply
    after the `health` comes from the snapshot. The start's phases are then in status and in
    the `start_phases` log record."""
    before = _snapshot(daemon)
    daemon.request("reexec")
    assert _wait_resuming(daemon.endpoint), "the early control never answered"
    sock: zmq.Socket[Any] = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(daemon.endpoint)
    try:
        sent = ["status", "health", "status", "ping", "status"]
        for request_id, cmd in enumerate(sent, 1):
            sock.send_multipart([b"", encode_request(cmd, {}, request_id)])
        replies = []
        for _ in sent:
            assert sock.poll(30_000, zmq.POLLIN), f"replies so far: {replies}"
            replies.append(decode_reply(sock.recv_multipart()[-1]))
    finally:
        sock.close(linger=0)
    assert [r["id"] for r in replies] == [1, 2, 3, 4, 5]
    assert all(r["ok"] for r in replies), replies
    assert not replies[2]["result"]["daemon"].get("resuming")
    assert not replies[4]["result"]["daemon"].get("resuming")
    daemon.wait_for(lambda: daemon.resumed(1))
    assert _snapshot(daemon) == before
    phases = daemon.status()["daemon"]["start_phases_ms"]
    assert {"flush", "interpreter", "early_control", "imports", "adopted",
            "first_reply"} <= set(phases)
