"""Tests of the engine service helpers: ServiceServer / ServiceClient over real ipc sockets."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from engines.errors import ServiceError, ServiceTimeout
from engines.service import ServiceClient, ServiceServer, service_endpoint

pytestmark = pytest.mark.timeout(30)


class Served:
    """A ServiceServer answered by a thread that owns it, until stop()."""

    def __init__(self, endpoint: str, handlers: dict[str, Any]) -> None:
        self.endpoint = endpoint
        self.handlers = handlers
        self.server: ServiceServer | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(5)

    def _run(self) -> None:
        self.server = ServiceServer(self.endpoint, self.handlers)
        self._ready.set()
        try:
            while not self._stop.is_set():
                if self.server.socket.poll(20):
                    self.server.serve()
        finally:
            self.server.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        assert not self._thread.is_alive()


@pytest.fixture
def served(runtime_dir: Path) -> Iterator[Served]:
    def kill_switch(on: bool) -> dict[str, bool]:
        return {"halted": on}

    def explode() -> None:
        raise RuntimeError("book corrupted")

    def refuse(symbol: str) -> None:
        raise ServiceError("positions.get", "UNKNOWN_SYMBOL", f"no position in {symbol!r}")

    s = Served(service_endpoint(runtime_dir, "risk"),
               {"risk.kill_switch": kill_switch, "risk.explode": explode,
                "positions.get": refuse})
    yield s
    s.stop()


def test_call_when_method_exists_returns_result(served: Served) -> None:
    """A call returns the handler's result."""
    with ServiceClient(served.endpoint) as client:
        assert client.call("risk.kill_switch", on=True) == {"halted": True}


def test_call_when_method_unknown_raises_service_error(served: Served) -> None:
    """An unknown method raises ServiceError(UNKNOWN_METHOD) naming it."""
    with ServiceClient(served.endpoint) as client, pytest.raises(ServiceError) as info:
        client.call("risk.nothing")
    assert info.value.code == "UNKNOWN_METHOD" and "risk.nothing" in info.value.message


def test_call_when_handler_fails_raises_and_server_keeps_serving(served: Served) -> None:
    """Handler errors come back typed (its own code, or INTERNAL); the next call works."""
    with ServiceClient(served.endpoint) as client:
        with pytest.raises(ServiceError, match=r"INTERNAL.*book corrupted"):
            client.call("risk.explode")
        with pytest.raises(ServiceError) as info:
            client.call("positions.get", symbol="ZZZ")
        assert info.value.code == "UNKNOWN_SYMBOL"
        assert client.call("risk.kill_switch", on=False) == {"halted": False}


def test_call_when_no_server_raises_timeout(runtime_dir: Path) -> None:
    """Without a server the call raises ServiceTimeout naming the method and the time-out."""
    with ServiceClient(service_endpoint(runtime_dir, "nobody"), timeout_ms=50) as client, \
            pytest.raises(ServiceTimeout, match=r"risk\.check.*50 ms"):
        client.call("risk.check")


def test_serve_when_request_garbage_replies_bad_request(served: Served) -> None:
    """Raw garbage gets a BAD_REQUEST reply instead of killing the server."""
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    try:
        sock.connect(served.endpoint)
        sock.send(b"\xc1")
        assert sock.poll(5000)
        import msgpack

        reply = msgpack.unpackb(sock.recv())
        assert reply["ok"] is False and reply["error"]["code"] == "BAD_REQUEST"
    finally:
        sock.close()
