"""nautilusd under a notify socket: READY=1 once every engine is ready, STOPPING=1 on SIGTERM."""

from __future__ import annotations

import signal
import socket
import time

import pytest
from daemon_helpers import start_daemon, write_config


def messages_until(sock: socket.socket, wanted: str, timeout_s: float) -> list[str]:
    """Datagrams received until one contains `wanted` (fails after `timeout_s`)."""
    got: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            break
        if wanted in got[-1]:
            return got
    raise AssertionError(f"no {wanted!r} within {timeout_s} s; got {got}")


@pytest.mark.timeout(40)
def test_notify_when_engines_ready_sends_ready_then_stopping_on_sigterm(shm_dir, runtime_dir):
    """READY=1 comes after the engines are ready (with a STATUS line); SIGTERM sends STOPPING=1."""
    path = runtime_dir / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    proc = start_daemon(write_config(runtime_dir, shm_dir, {"a": [0], "b": [1]}), runtime_dir,
                        env={"NOTIFY_SOCKET": str(path)})
    try:
        ready = messages_until(sock, "READY=1", 20)
        assert "3/3 engines ready" in ready[-1]
        proc.send_signal(signal.SIGTERM)
        messages_until(sock, "STOPPING=1", 10)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
