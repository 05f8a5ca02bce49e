"""nautilusd.systemd: sd_notify over a real AF_UNIX datagram socket set as NOTIFY_SOCKET."""

from __future__ import annotations

import os
import random
import select
import socket
import time
import uuid
from pathlib import Path

import pytest
from supervisor_fakes import FakeClock, FakeHost, FakeTable, engine, group, topology

from nautilusd.loop import EventLoop
from nautilusd.states import State
from nautilusd.supervisor import Supervisor
from nautilusd.systemd import Notifier, WatchdogGate, summary_line

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
def notify_socket(dgram_socket: tuple[socket.socket, str]) -> tuple[socket.socket, str]:
    """A datagram socket standing in for systemd notify's."""
    return dgram_socket


def received(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def drained(sock: socket.socket) -> bool:
    """True when nothing more is queued on the socket."""
    readable, _, _ = select.select([sock], [], [], 0)
    return not readable


def test_ready_when_under_systemd_sends_ready_and_status(
    notify_socket: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ready() sends READY=1 and a one-line STATUS= in one datagram to $NOTIFY_SOCKET."""
    sock, path = notify_socket
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    notifier = Notifier.from_env()
    try:
        assert notifier.ready("8/8 engines\nready")
        assert received(sock) == ["READY=1", "STATUS=8/8 engines ready"]
        assert notifier.status("draining") and received(sock) == ["STATUS=draining"]
        assert notifier.stopping() and received(sock) == ["STOPPING=1"]
        assert notifier.sent == 3
    finally:
        notifier.close()


def test_notify_when_socket_abstract_sends_to_abstract_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An '@name' NOTIFY_SOCKET addresses the abstract namespace, as systemd uses it."""
    name = f"nd-notify-{uuid.uuid4().hex[:10]}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5.0)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    notifier = Notifier.from_env()
    try:
        assert notifier.watchdog()
        assert received(sock) == ["WATCHDOG=1"]
    finally:
        notifier.close()
        sock.close()


def test_notifier_when_not_under_systemd_is_noop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without NOTIFY_SOCKET every call returns False and nothing raises."""
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = Notifier.from_env()
    assert not notifier.enabled
    assert not notifier.ready() and not notifier.watchdog() and not notifier.stopping()
    assert notifier.watchdog_interval_s() is None


def test_notify_when_socket_gone_returns_false_and_counts(tmp_path: Path) -> None:
    """A notify socket that disappeared is counted as a failure, never raised."""
    notifier = Notifier(str(tmp_path / "gone.sock"))
    try:
        assert not notifier.ready()
        assert notifier.failed == 1
    finally:
        notifier.close()


def test_notify_when_receiver_not_reading_never_blocks(
    notify_socket: tuple[socket.socket, str],
) -> None:
    """With the notify queue full, sends fail fast and are counted instead of blocking."""
    _sock, path = notify_socket
    notifier = Notifier(path, watchdog_usec=1_000_000)
    try:
        started = time.monotonic()
        results = [notifier.watchdog() for _ in range(5_000)]
        assert time.monotonic() - started < 5.0
        assert results[0] and not results[-1]
        assert notifier.failed > 0 and notifier.sent + notifier.failed == 5_000
    finally:
        notifier.close()


def test_watchdog_interval_when_usec_set_is_half_of_watchdogsec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """WATCHDOG_USEC=2s gives a 1 s ping interval; a WATCHDOG_PID of another process disables it."""
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "2000000"}
    assert Notifier.from_env(env).watchdog_interval_s() == 1.0
    mine = {**env, "WATCHDOG_PID": str(os.getpid())}
    assert Notifier.from_env(mine).watchdog_interval_s() == 1.0
    other = {**env, "WATCHDOG_PID": str(os.getpid() + 1)}
    assert Notifier.from_env(other).watchdog_interval_s() is None
    assert Notifier.from_env({**env, "WATCHDOG_USEC": "bad"}).watchdog_interval_s() is None


def test_from_env_when_unset_environment_removes_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """unset_environment keeps the notify variables away from the engines nautilusd spawns."""
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/x")
    monkeypatch.setenv("WATCHDOG_USEC", "3000000")
    notifier = Notifier.from_env(unset_environment=True)
    assert notifier.address == "/run/x" and notifier.watchdog_interval_s() == 1.5
    assert "NOTIFY_SOCKET" not in os.environ and "WATCHDOG_USEC" not in os.environ


def test_watchdog_gate_when_critical_engine_fatal_stops_pinging(
    notify_socket: tuple[socket.socket, str],
) -> None:
    """Gated on the supervisor as the daemon wires it, the watchdog keeps pinging while only a
    non-critical engine is FATAL and withholds pings once an engine of a critical group is."""
    sock, path = notify_socket
    clock = FakeClock()
    host = FakeHost(clock)
    topo = topology(engine("risk", group="orders", max_restarts=0),
                    engine("analytics", max_restarts=0),
                    groups=[group("orders", "one_for_one", critical=True)])
    sup = Supervisor(topo, host, EventLoop(clock=clock), FakeTable(), rng=random.Random(1))
    sup.start_all()
    notifier = Notifier(path, watchdog_usec=1_000_000)
    gate = WatchdogGate(notifier, sup.critical_healthy)
    try:
        host.exit(sup.instances["analytics"].pid, 1)
        assert sup.instances["analytics"].state is State.FATAL
        assert gate.tick()
        assert received(sock) == ["WATCHDOG=1"]
        host.exit(sup.instances["risk"].pid, 1)
        assert sup.instances["risk"].state is State.FATAL
        assert not gate.tick() and not gate.tick()
        assert drained(sock)
        assert (gate.pings, gate.withheld) == (1, 2)
    finally:
        notifier.close()


def test_summary_line_when_engines_fatal_names_them() -> None:
    """The STATUS= summary counts ready engines and restarts and names FATAL ones."""
    engines = [{"name": "md", "state": "READY", "restarts": 1},
               {"name": "risk", "state": "FATAL", "restarts": 5}]
    assert summary_line(engines) == "1/2 engines ready, 6 restarts, fatal: risk"
