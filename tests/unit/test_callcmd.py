"""Tests for `nautilusctl call`: argument parsing, and real calls found through the daemon's
`info` to a real engine service socket."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _control_standins import ServedControl

from engines.service import ServiceServer, service_endpoint
from nautilusd.ctl import main as cli
from nautilusd.ctl.client import ControlClient
from nautilusd.ctl.commands.call import parse_pairs

pytestmark = pytest.mark.timeout(30)


def test_parse_pairs_when_values_are_json_or_text_types_follow() -> None:
    """JSON literals become values; anything else stays a string."""
    assert parse_pairs(["engage=true", "qty=5", "why=manual stop"]) == {
        "engage": True, "qty": 5, "why": "manual stop"}


def test_parse_pairs_when_not_key_value_raises_naming_it() -> None:
    """A malformed argument is refused with the argument in the message."""
    with pytest.raises(ValueError, match="'oops'"):
        parse_pairs(["oops"])


@pytest.fixture
def risk_service(runtime_dir: Path) -> Iterator[ServiceServer]:
    """The `risk` instance's service socket, served from a thread until the test ends."""
    server = ServiceServer(service_endpoint(runtime_dir, "risk"),
                           {"risk.kill_switch": lambda engage=False, why="": {"killed": engage}})
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            if server.socket.poll(50):
                server.serve()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join()
        server.close()


def _call(runtime_dir: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["call", *argv, "--runtime-dir", str(runtime_dir)], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_info_when_engine_serves_lists_its_service_endpoint(
        runtime_dir: Path, risk_service: ServiceServer) -> None:
    """The daemon's info names the service socket of each instance that has one, only."""
    with ServedControl(runtime_dir) as served, ControlClient(served.endpoint) as client:
        services: dict[str, Any] = client.request("info")["services"]
    assert services == {"risk": risk_service.endpoint}


def test_call_when_engine_serves_method_prints_result(runtime_dir: Path,
                                                      risk_service: ServiceServer) -> None:
    """call reaches the engine's ROUTER through the daemon's info and prints the result."""
    with ServedControl(runtime_dir):
        result = _call(runtime_dir, "risk", "risk.kill_switch", "engage=true", "--json")
    assert result == (0, '{"killed": true}\n', "")
    assert risk_service.counters["requests"] == 1


def test_call_when_method_unknown_exits_1_with_the_service_code(
        runtime_dir: Path, risk_service: ServiceServer) -> None:
    """The service's error reply is printed with its code; exit 1."""
    with ServedControl(runtime_dir):
        code, out, err = _call(runtime_dir, "risk", "risk.nope")
    assert (code, out) == (1, "") and err.startswith("error: UNKNOWN_METHOD: ")


def test_call_when_engine_has_no_socket_exits_1_naming_it(runtime_dir: Path) -> None:
    """Calling an engine that serves nothing exits 1 naming it and who does serve."""
    with ServedControl(runtime_dir):
        code, _, err = _call(runtime_dir, "ghost", "x")
    assert code == 1
    assert err == "engine 'ghost' serves no methods (engines serving methods: none)\n"


def test_call_when_no_daemon_exits_3(runtime_dir: Path) -> None:
    """Without a daemon to ask for the endpoint: the one-line not-running message, exit 3."""
    code, _, err = _call(runtime_dir, "risk", "risk.kill_switch")
    assert code == 3 and err.startswith("nautilusd is not running")


def test_call_when_pair_malformed_exits_2(runtime_dir: Path) -> None:
    """A malformed KEY=VALUE is a usage error, found before anything is contacted."""
    code, _, err = _call(runtime_dir, "risk", "risk.kill_switch", "oops")
    assert code == 2 and "'oops'" in err
