"""Fuzz the control socket and the bus with hypothesis: both stay up and keep answering.

A real ControlServer on a real ipc socket gets random bytes, random msgpack, random frame
counts, oversize frames and unknown commands; a real bus gets random frames. After each
input, a valid request (or message) must still be answered (or delivered).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq
from _control_standins import FakeSupervisor, ServedControl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engines.bus import Publisher, Subscriber
from nautilusd.busproxy import BusProxy
from nautilusd.control.commands import COMMANDS
from nautilusd.control.protocol import MAX_REQUEST_BYTES, decode_reply
from nautilusd.ctl.client import ControlClient
from nautilusd.loop import EventLoop
from nautilusd.paths import bus_pub_endpoint, bus_sub_endpoint

pytestmark = pytest.mark.timeout(120)
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
REPLY_TIMEOUT_MS = 5_000

leaves = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
          | st.text(max_size=20) | st.binary(max_size=20))
msgpack_values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                              | st.dictionaries(st.text(max_size=8) | st.integers(-9, 9), inner,
                                                max_size=4), max_leaves=12)
safe_commands = sorted(set(COMMANDS) - {"shutdown"})
requests = st.fixed_dictionaries(
    {"cmd": st.sampled_from(safe_commands) | st.text(max_size=70)},
    optional={"args": st.dictionaries(st.sampled_from(["target", "engine", "n", "cpus",
                                                        "config", "x"]), msgpack_values,
                                      max_size=3) | msgpack_values,
              "id": msgpack_values})


class FuzzSupervisor(FakeSupervisor):
    """Ignores `shutdown` until the test is over, so a fuzzed 'shutdown' cannot end it."""

    allow_stop = False

    def shutdown(self) -> None:
        if self.allow_stop:
            super().shutdown()


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


class Peer:
    """A raw DEALER that may send anything; `reply()` waits for one answer."""

    def __init__(self, ctx: zmq.Context, endpoint: str) -> None:
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.connect(endpoint)

    def reply(self) -> dict[str, Any]:
        assert self.sock.poll(REPLY_TIMEOUT_MS), "the control server stopped answering"
        return decode_reply(self.sock.recv_multipart()[-1])


def _still_serving(endpoint: str) -> None:
    with ControlClient(endpoint, timeout_ms=REPLY_TIMEOUT_MS) as client:
        assert client.request("ping")["pid"] == os.getpid()


def test_control_when_fuzzed_always_replies_and_keeps_serving(runtime_dir: Path) -> None:
    """Random bytes, msgpack, frame lists and requests get error replies; ping still works."""
    ctx = zmq.Context()
    supervisor = FuzzSupervisor()
    served = ServedControl(runtime_dir, supervisor, context=ctx)
    peer = None
    try:
        with served:
            peer = Peer(ctx, served.endpoint)

            @FUZZ
            @given(frames=st.one_of(
                st.binary(max_size=512).map(lambda b: [b]),
                msgpack_values.map(lambda v: [_pack(v)]),
                requests.map(lambda r: [_pack(r)]),
                st.lists(st.binary(max_size=64), min_size=2, max_size=4)))
            def fuzz(frames: list[bytes]) -> None:
                peer.sock.send_multipart(frames)
                reply = peer.reply()
                assert isinstance(reply["ok"], bool)
                if not reply["ok"]:
                    assert reply["error"]["code"] and isinstance(reply["error"]["message"], str)

            try:
                fuzz()
                _still_serving(served.endpoint)
            finally:
                supervisor.allow_stop = True
    finally:
        if peer is not None:
            peer.sock.close()
        ctx.term()


def test_control_when_peers_send_oversize_frames_drops_them_and_serves(runtime_dir: Path) -> None:
    """Each oversize peer is dropped unanswered; a fresh client is answered right after."""
    ctx = zmq.Context()
    supervisor = FuzzSupervisor()
    try:
        with ServedControl(runtime_dir, supervisor, context=ctx) as served:

            @settings(max_examples=15, deadline=None)
            @given(size=st.integers(MAX_REQUEST_BYTES + 1, 4 * MAX_REQUEST_BYTES))
            def fuzz(size: int) -> None:
                big = Peer(ctx, served.endpoint)
                try:
                    big.sock.send(os.urandom(size))
                    assert not big.sock.poll(50)
                finally:
                    big.sock.close()
                _still_serving(served.endpoint)

            try:
                fuzz()
            finally:
                supervisor.allow_stop = True
    finally:
        ctx.term()


def test_bus_when_fuzzed_subscriber_survives_and_gets_next_message(runtime_dir: Path) -> None:
    """Random frames on the bus are skipped and counted; a valid message still arrives."""
    ctx = zmq.Context()
    loop = EventLoop()
    proxy = BusProxy(bus_pub_endpoint(runtime_dir), bus_sub_endpoint(runtime_dir), loop,
                     context=ctx)
    raw = ctx.socket(zmq.PUB)
    raw.linger = 0
    raw.connect(proxy.xsub_endpoint)
    pub = Publisher(proxy.xsub_endpoint, context=ctx)
    sub = Subscriber(proxy.xpub_endpoint, ("f",), context=ctx)
    try:
        _pump_until(loop, lambda: pub.publish("f.sync", {"n": -1}) and sub.recv(5))
        counter = iter(range(10**9))

        @FUZZ
        @given(frames=st.lists(st.binary(max_size=128), min_size=1, max_size=4))
        def fuzz(frames: list[bytes]) -> None:
            raw.send_multipart([b"f", *frames])
            n = next(counter)
            assert pub.publish("f.ok", {"n": n})
            got = _pump_until(loop, lambda: _valid(sub, n))
            assert got == ("f.ok", {"n": n})

        fuzz()
        assert sub.dropped > 0
    finally:
        for closable in (sub, pub, proxy):
            closable.close()
        raw.close()
        ctx.term()


def _valid(sub: Subscriber, n: int) -> tuple[str, Any] | None:
    """The marker message `n`, skipping fuzz frames that happen to decode."""
    while (message := sub.recv(0)) is not None:
        if message == ("f.ok", {"n": n}):
            return message
    return None


def _pump_until(loop: EventLoop, condition: Any, timeout_s: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        loop.run_once(0.005)
        result = condition()
        if result:
            return result
    raise AssertionError("condition not met in time")
