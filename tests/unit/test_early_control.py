"""The early control of a re-executed image: `status` and `ping` from the snapshot on a real
ROUTER socket; every other request, and every one after it, left in arrival order for the
server that takes the socket over; a refused handover answers what was left UNAVAILABLE."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq

from nautilusd.control.early import EarlyControl, open_early, resume_from_environment
from nautilusd.control.protocol import decode_reply, encode_request
from nautilusd.handover import write_handover
from nautilusd.listeners import Listeners

pytestmark = pytest.mark.timeout(30)

SNAPSHOT = {"daemon": {"pid": 4242, "reexecs": 0, "uptime_s": 10.0, "start_phases_ms": {"x": 1}},
            "engines": [{"name": "risk", "pid": 77, "state": "READY"}], "rings": []}


@pytest.fixture
def endpoint(tmp_path: Path) -> str:
    return f"ipc://{tmp_path}/control.sock"


@pytest.fixture
def early(endpoint: str) -> Iterator[EarlyControl]:
    control = EarlyControl(endpoint, Listeners(), SNAPSHOT, time.monotonic(), reexecs=3)
    try:
        yield control
    finally:
        sock, _ = control.take_over()
        sock.close(linger=0)


@pytest.fixture
def client(endpoint: str) -> Iterator[zmq.Socket[Any]]:
    sock: zmq.Socket[Any] = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    try:
        yield sock
    finally:
        sock.close(linger=0)


def _ask(sock: zmq.Socket[Any], cmd: str, request_id: int, **args: Any) -> None:
    sock.send_multipart([b"", encode_request(cmd, args, request_id)])


def _reply(sock: zmq.Socket[Any], timeout_ms: int = 5000) -> dict[str, Any]:
    assert sock.poll(timeout_ms, zmq.POLLIN), "no reply"
    return decode_reply(sock.recv_multipart()[-1])


def _request_id(frames: list[zmq.Frame]) -> Any:
    return msgpack.unpackb(frames[-1].bytes)["id"]


def _wait_left(early: EarlyControl, n: int) -> None:
    deadline = time.monotonic() + 5
    while len(early.left) < n and time.monotonic() < deadline:
        time.sleep(0.005)
    assert len(early.left) == n


def test_status_when_resuming_answers_the_snapshot_marked_as_such(
        early: EarlyControl, client: zmq.Socket[Any]) -> None:
    """The handed-over document, with this image's reexecs, resuming and its age; no
    start phases of the earlier image; ping says this pid."""
    _ask(client, "status", 1)
    reply = _reply(client)
    daemon = reply["result"]["daemon"]
    assert reply["ok"] and reply["id"] == 1
    assert daemon["reexecs"] == 3 and daemon["resuming"] is True and daemon["pid"] == 4242
    assert daemon["snapshot_age_ms"] >= 0 and daemon["uptime_s"] >= 10.0
    assert daemon["start_phases_ms"] == {}
    assert reply["result"]["engines"] == SNAPSHOT["engines"]
    _ask(client, "ping", 2)
    assert _reply(client)["result"] == {"pid": os.getpid()}
    assert early.answered == 2 and early.left == []


def test_other_request_when_resuming_is_left_and_so_is_every_later_one(
        early: EarlyControl, client: zmq.Socket[Any]) -> None:
    """A `health` is not answered early; the `status` behind it is not either (it would
    overtake it): both are left, in arrival order, with the socket handed over."""
    _ask(client, "health", 1)
    _ask(client, "status", 2)
    _ask(client, "status", 3, engine="risk")
    _wait_left(early, 3)
    assert not client.poll(50, zmq.POLLIN)
    sock, left = early.take_over()
    assert [_request_id(frames) for frames in left] == [1, 2, 3]
    assert sock is early.socket and early.answered == 0


def test_status_with_args_when_resuming_is_left_for_the_server(
        early: EarlyControl, client: zmq.Socket[Any]) -> None:
    """Only an argument-free request is answered from the snapshot."""
    _ask(client, "status", 7, verbose=True)
    _wait_left(early, 1)


def test_refuse_when_requests_were_left_answers_them_unavailable(
        endpoint: str, client: zmq.Socket[Any]) -> None:
    """A refused handover (fresh start): what was left gets an UNAVAILABLE error naming why,
    never silence."""
    control = EarlyControl(endpoint, Listeners(), SNAPSHOT, time.monotonic(), reexecs=1)
    _ask(client, "restart", 5, target="risk")
    _wait_left(control, 1)
    control.refuse("handover names other rings")
    reply = _reply(client)
    assert reply["ok"] is False and reply["error"]["code"] == "UNAVAILABLE"
    assert "handover names other rings" in reply["error"]["message"]
    assert control.socket.closed


def test_open_early_when_handover_lacks_a_snapshot_or_socket_serves_nothing(
        endpoint: str) -> None:
    """No `control` section, or an endpoint whose listening fd was not handed over: None
    (the server binds as on any start)."""
    assert open_early({"reexecs": 1}, Listeners()) is None
    doc = {"reexecs": 1, "control": {"endpoint": endpoint, "status": SNAPSHOT,
                                     "taken_at": time.monotonic()}}
    assert open_early(doc, Listeners()) is None  # not inherited
    assert open_early({**doc, "control": {"endpoint": endpoint}}, Listeners()) is None


def test_resume_from_environment_when_handover_has_bad_listeners_is_an_error() -> None:
    """A listeners map that is not endpoint -> fd refuses the handover (its fds are named
    for the caller to close), it does not start a half-adopted control socket."""
    fd = write_handover({"listeners": {"ipc:///x": "three"}, "reexecs": 1})
    os.set_inheritable(fd, True)
    environ = {"NAUTILUSD_HANDOVER_FD": str(fd), "NAUTILUSD_INHERITED_FDS": "97,98"}
    handed = resume_from_environment(environ)
    assert handed.doc is None and handed.early is None and handed.error is not None
    assert "not a map of endpoint to fd" in str(handed.error)
    assert handed.error.fds == (97, 98)
    assert environ == {}  # taken out: engines never see it
