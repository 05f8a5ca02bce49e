"""Tests for `nautilusctl call`: argument parsing and a real call to a real service socket."""

from __future__ import annotations

import argparse
import io
import threading

import pytest

from engines.service import ServiceServer, service_endpoint
from nautilusd.ctl.call import parse_pairs, run


def test_parse_pairs_when_values_are_json_or_text_types_follow() -> None:
    """JSON literals become values; anything else stays a string."""
    assert parse_pairs(["engage=true", "qty=5", "why=manual stop"]) == {
        "engage": True, "qty": 5, "why": "manual stop"}


def test_parse_pairs_when_not_key_value_raises_naming_it() -> None:
    """A malformed argument is refused with the argument in the message."""
    with pytest.raises(ValueError, match="'oops'"):
        parse_pairs(["oops"])


@pytest.mark.timeout(20)
def test_run_when_engine_serves_method_prints_result(runtime_dir) -> None:
    """The command reaches a real ROUTER service and prints its JSON result."""
    server = ServiceServer(service_endpoint(runtime_dir, "risk"),
                           {"risk.kill_switch": lambda engage=False, why="": {"killed": engage}})
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            if server.socket.poll(50):
                server.serve()

    thread = threading.Thread(target=serve)
    thread.start()
    out, err = io.StringIO(), io.StringIO()
    try:
        args = argparse.Namespace(engine="risk", method="risk.kill_switch",
                                  pairs=["engage=true"], timeout_ms=5000, json=True)
        code = run(args, runtime_dir, out, err)
    finally:
        stop.set()
        thread.join()
        server.close()
    assert (code, out.getvalue().strip(), err.getvalue()) == (0, '{"killed": true}', "")


def test_run_when_engine_has_no_socket_fails_clearly(runtime_dir) -> None:
    """Calling an engine that serves nothing exits 1 with the socket path in the message."""
    args = argparse.Namespace(engine="ghost", method="x", pairs=[], timeout_ms=100, json=False)
    err = io.StringIO()
    assert run(args, runtime_dir, io.StringIO(), err) == 1
    assert "ghost" in err.getvalue() and "svc-ghost.sock" in err.getvalue()
