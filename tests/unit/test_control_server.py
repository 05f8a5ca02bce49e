"""Tests of the ControlServer on a real ipc socket, with a stand-in SupervisorApi."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import msgpack
import pytest
import zmq
from _control_standins import FakeSupervisor, ServedControl

from nautilusd.control.commands import COMMANDS, REGISTRY
from nautilusd.control.protocol import MAX_REQUEST_BYTES, decode_reply, encode_request
from nautilusd.ctl.client import ControlClient, DaemonNotRunning, RemoteError, RequestTimeout

pytestmark = pytest.mark.timeout(30)


def _remote_error(served: ServedControl, cmd: str, **args: object) -> RemoteError:
    """The RemoteError that `cmd` gets from the served daemon (fails if it succeeds)."""
    with ControlClient(served.endpoint) as client, pytest.raises(RemoteError) as info:
        client.request(cmd, **args)
    return info.value


def test_status_when_requested_returns_supervisor_document(runtime_dir: Path) -> None:
    """status returns the supervisor's document with the endpoints added to `daemon`."""
    with ServedControl(runtime_dir) as served, ControlClient(served.endpoint) as client:
        doc = client.request("status")
    assert [e["name"] for e in doc["engines"]] == ["marketdata", "strategy", "risk"]
    assert doc["daemon"]["control"] == served.endpoint


def test_bind_when_started_socket_is_0600(runtime_dir: Path) -> None:
    """The control socket file is created private to its owner."""
    with ServedControl(runtime_dir):
        mode = stat.S_IMODE((runtime_dir / "control.sock").stat().st_mode)
    assert mode == 0o600


def test_unknown_command_when_sent_returns_typed_error(runtime_dir: Path) -> None:
    """An unknown command gets UNKNOWN_COMMAND naming it and the known commands."""
    with ServedControl(runtime_dir) as served, ControlClient(served.endpoint) as client:
        with pytest.raises(RemoteError) as info:
            client.request("frobnicate")
        assert info.value.code == "UNKNOWN_COMMAND"
        assert "frobnicate" in info.value.message
        assert info.value.message.endswith(f"known: {', '.join(sorted(COMMANDS))}")
        assert client.request("ping")["pid"] == os.getpid()


def test_start_when_target_unknown_returns_unknown_target(runtime_dir: Path) -> None:
    """The supervisor's UnknownTargetError becomes an UNKNOWN_TARGET reply."""
    with ServedControl(runtime_dir) as served:
        error = _remote_error(served, "start", target="nope")
    assert error.code == "UNKNOWN_TARGET" and "nope" in error.message


@pytest.mark.parametrize(
    ("cmd", "args", "fragment"),
    [
        ("start", {}, "'target'"),
        ("scale", {"engine": "risk", "n": -1}, "'n'"),
        ("pin", {"engine": "risk", "cpus": [1, 1]}, "'cpus'"),
        ("pin", {"engine": "risk", "cpus": "1"}, "'cpus'"),
        ("status", {"verbose": True}, "verbose"),
        ("reload", {"config": "relative.toml"}, "absolute"),
    ],
)
def test_command_when_args_bad_returns_bad_args(runtime_dir: Path, cmd: str,
                                                args: dict[str, object], fragment: str) -> None:
    """Commands validate their arguments and name the bad one in a BAD_ARGS reply."""
    with ServedControl(runtime_dir) as served:
        error = _remote_error(served, cmd, **args)
    assert error.code == "BAD_ARGS" and fragment in error.message


def test_pin_when_valid_calls_supervisor_with_sorted_cpus(runtime_dir: Path) -> None:
    """pin hands a sorted core list to the supervisor and returns what it verified."""
    with ServedControl(runtime_dir) as served, ControlClient(served.endpoint) as client:
        result = client.request("pin", engine="risk", cpus=[1, 0])
    assert result == {"engine": "risk", "cpus": [0, 1]}
    assert served.supervisor.engines["risk"]["cpus"] == [0, 1]


def test_reload_when_config_missing_returns_config_invalid(runtime_dir: Path) -> None:
    """A reload of an unreadable config is rejected and the supervisor is not touched."""
    with ServedControl(runtime_dir) as served:
        error = _remote_error(served, "reload", config=str(runtime_dir / "missing.toml"))
    assert error.code == "CONFIG_INVALID" and "missing.toml" in error.message
    assert not [c for c in served.supervisor.calls if c[0] == "reload"]


def test_status_when_supervisor_raises_returns_internal_and_keeps_serving(
        runtime_dir: Path) -> None:
    """A bug behind a command becomes an INTERNAL reply; the next request is served."""
    supervisor = FakeSupervisor()
    supervisor.raise_on_status = KeyError("boom")
    with ServedControl(runtime_dir, supervisor) as served, \
            ControlClient(served.endpoint) as client:
        with pytest.raises(RemoteError) as info:
            client.request("status")
        assert info.value.code == "INTERNAL"
        assert client.request("health")["code"] == 0


def test_rings_when_sampled_twice_reports_fill_and_rate(runtime_dir: Path) -> None:
    """rings derives fill and overruns, and a rate from the second sample on."""
    with ServedControl(runtime_dir) as served, ControlClient(served.endpoint) as client:
        first = client.request("rings")["rings"][0]
        second = client.request("rings")["rings"][0]
    assert first["fill"] == round(244 / 1024, 4) and first["overruns"] == 2
    assert first["rate_per_s"] is None and second["rate_per_s"] == 0.0


def test_shutdown_when_requested_replies_then_stops_loop(runtime_dir: Path) -> None:
    """shutdown answers first, then the supervisor's shutdown runs on the loop."""
    served = ServedControl(runtime_dir)
    with served, ControlClient(served.endpoint) as client:
        assert client.request("shutdown") == {"stopping": True}
        deadline = time.monotonic() + 5
        while ("shutdown", None) not in served.supervisor.calls and time.monotonic() < deadline:
            time.sleep(0.01)
    assert ("shutdown", None) in served.supervisor.calls


def test_client_when_no_socket_raises_daemon_not_running(runtime_dir: Path) -> None:
    """Without a daemon the client fails at once with DaemonNotRunning naming the path."""
    with ControlClient(f"ipc://{runtime_dir}/control.sock") as client, \
            pytest.raises(DaemonNotRunning, match="not running"):
        client.request("status")


def test_client_when_socket_stale_raises_daemon_not_running(runtime_dir: Path) -> None:
    """A socket file left by a dead daemon is reported as not running, not as a hang."""
    import socket

    path = runtime_dir / "control.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()
    with ControlClient(f"ipc://{path}") as client, pytest.raises(DaemonNotRunning,
                                                                 match="stale"):
        client.request("status")


def _raw_dealer(ctx: zmq.Context, endpoint: str) -> zmq.Socket:
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(endpoint)
    return sock


def test_server_when_frames_malformed_replies_bad_request(runtime_dir: Path) -> None:
    """Garbage, non-map msgpack and an extra frame each get an error reply, not silence."""
    ctx = zmq.Context()
    try:
        with ServedControl(runtime_dir, context=ctx) as served:
            sock = _raw_dealer(ctx, served.endpoint)
            for payload in ([b"\xc1\xff"], [msgpack.packb([1])], [b"x", b"y"]):
                sock.send_multipart(payload)
                assert sock.poll(5000), f"no reply to {payload!r}"
                reply = decode_reply(sock.recv_multipart()[-1])
                assert reply["ok"] is False and reply["error"]["code"] == "BAD_REQUEST"
            sock.close()
    finally:
        ctx.term()


def test_server_when_peer_sends_oversize_drops_it_and_serves_others(runtime_dir: Path) -> None:
    """A peer above MAXMSGSIZE is disconnected by libzmq; other clients are still served."""
    ctx = zmq.Context()
    try:
        with ServedControl(runtime_dir, context=ctx) as served:
            big = _raw_dealer(ctx, served.endpoint)
            big.send(b"\x00" * (MAX_REQUEST_BYTES + 1))
            assert not big.poll(300), "an oversize request must not be answered"
            with ControlClient(served.endpoint, timeout_ms=3000) as client:
                assert client.request("ping")["pid"] == os.getpid()
            big.close()
    finally:
        ctx.term()


def test_server_when_request_spans_many_frames_refuses_it_whole(runtime_dir: Path) -> None:
    """Frames each under MAXMSGSIZE that add up to 2.4 MB (or are too many) get one small
    TOO_LARGE reply naming the size, nothing of them echoed; the next request is served."""
    ctx = zmq.Context()
    try:
        with ServedControl(runtime_dir, context=ctx) as served:
            sock = _raw_dealer(ctx, served.endpoint)
            for frames in ([b"\x00" * (60 * 1024)] * 40, [b"a", b"b", b"c", b"d"]):
                sock.send_multipart(frames)
                assert sock.poll(5000), "no reply to a many-frame request"
                parts = sock.recv_multipart()
                assert sum(len(p) for p in parts) < 1024, "the request was echoed back"
                reply = decode_reply(parts[-1])
                assert reply["ok"] is False and reply["error"]["code"] == "TOO_LARGE"
                assert f"in {len(frames) + 1} frames" in reply["error"]["message"]
            with ControlClient(served.endpoint, timeout_ms=3000) as client:
                assert client.request("ping")["pid"] == os.getpid()
            sock.close()
    finally:
        ctx.term()


def test_server_when_client_never_reads_keeps_serving_others(runtime_dir: Path) -> None:
    """A client that floods requests and never reads cannot block the loop; losses count."""
    ctx = zmq.Context()
    flood = None
    try:
        with ServedControl(runtime_dir, context=ctx) as served:
            flood = _raw_dealer(ctx, served.endpoint)
            flood.setsockopt(zmq.RCVHWM, 1)
            request = encode_request("status", {}, 1)
            sent, deadline = 0, time.monotonic() + 10
            while sent < 3000 and time.monotonic() < deadline:
                if flood.poll(100, zmq.POLLOUT):
                    flood.send(request, zmq.NOBLOCK)
                    sent += 1
            with ControlClient(served.endpoint, timeout_ms=5000) as client:
                assert client.request("ping")["pid"] == os.getpid()
            deadline = time.monotonic() + 5
            while served.server.stats()["reply_drops"] == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert served.server.stats()["reply_drops"] > 0
    finally:
        if flood is not None:
            flood.close()
        ctx.term()


def test_request_when_daemon_silent_raises_timeout(runtime_dir: Path) -> None:
    """A ROUTER that never answers makes the client raise RequestTimeout, not hang."""
    ctx = zmq.Context()
    mute = ctx.socket(zmq.ROUTER)
    mute.linger = 0
    endpoint = f"ipc://{runtime_dir}/control.sock"
    mute.bind(endpoint)
    try:
        with ControlClient(endpoint, timeout_ms=100, context=ctx) as client, \
                pytest.raises(RequestTimeout, match="100 ms"):
            client.request("status")
    finally:
        mute.close()
        ctx.term()


def test_server_when_many_queued_and_small_budget_serves_them_all(runtime_dir: Path) -> None:
    """With one request per wake, 200 queued requests are still all answered, in order."""
    ctx = zmq.Context()
    sock = None
    try:
        with ServedControl(runtime_dir, context=ctx, max_per_wake=1) as served:
            sock = _raw_dealer(ctx, served.endpoint)
            for i in range(200):
                sock.send(encode_request("ping", {}, i))
            ids = []
            while len(ids) < 200 and sock.poll(5000):
                ids.append(decode_reply(sock.recv())["id"])
            assert ids == list(range(200))
            assert served.server.stats()["busy_wakes"] > 0
    finally:
        if sock is not None:
            sock.close()
        ctx.term()


def test_command_when_shutting_down_is_unavailable_but_status_answers(runtime_dir: Path) -> None:
    """While the supervisor shuts down, changes are refused with UNAVAILABLE; reads work."""
    supervisor = FakeSupervisor()
    supervisor.shutting_down = True
    with ServedControl(runtime_dir, supervisor) as served:
        error = _remote_error(served, "restart", target="risk")
        with ControlClient(served.endpoint) as client:
            assert client.request("status")["engines"]
        supervisor.shutting_down = False
    assert error.code == "UNAVAILABLE" and "restart" in error.message


def test_registry_when_shutting_down_serves_exactly_the_read_only_commands(
        runtime_dir: Path) -> None:
    """While stopping, each command marked read_only in its module is answered; every
    other registered command gets UNAVAILABLE (shutdown too: it is already under way)."""
    supervisor = FakeSupervisor()
    supervisor.shutting_down = True
    answered = set()
    with ServedControl(runtime_dir, supervisor) as served, \
            ControlClient(served.endpoint) as client:
        for command in REGISTRY:
            try:
                client.request(command.name)
                answered.add(command.name)
            except RemoteError as exc:
                assert exc.code == "UNAVAILABLE", (command.name, exc)
        supervisor.shutting_down = False
    assert answered == {c.name for c in REGISTRY if c.read_only}
    assert answered == {"ping", "info", "fleet", "status", "rings", "health"}
