"""Per-peer permissions on a real nautilusd's CURVE control endpoint: a peer without `allow`
reads and nothing else; refusals name the command and the peer, are counted and logged."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from nautilusd.bench import _bridge_rig as rig
from nautilusd.ctl.client import RemoteError
from nautilusd.ctl.remote import CurveControlClient

pytestmark = [pytest.mark.timeout(120)]


@pytest.fixture()
def daemon(tmp_path: Path) -> Iterator[tuple[rig.Host, str, dict[str, tuple[bytes, bytes]]]]:
    host, _ = rig.hosts(tmp_path, None, "p")
    rig.keys(host)
    peers = {name: zmq.curve_keypair() for name in ("ro", "ops")}
    endpoint = f"tcp://127.0.0.1:{22000 + os.getpid() % 20000}"
    config = host.header() + f"""
[engines.blast]
entry = "nautilusd.bench._blast:BlastEngine"
cpus = [0]
[engines.blast.params]
rate_per_s = 100.0

[rings.blast]
record = "raw64"
capacity = 1024
policy = "overwrite"
writer = "blast"
readers = []

[fleet]
host = "{host.name}"
control_endpoint = "{endpoint}"

[[peers]]
name = "ro"
address = "127.0.0.1"
public_key = "{peers['ro'][0].decode()}"

[[peers]]
name = "ops"
address = "127.0.0.1"
public_key = "{peers['ops'][0].decode()}"
allow = ["read", "operate", "admin"]
"""
    try:
        host.start(config)
        host.wait_ready()
        yield host, endpoint, peers
    finally:
        host.stop()


def _as(peer: str, endpoint: str, host: rig.Host, peers: dict[str, tuple[bytes, bytes]],
        cmd: str, **args: Any) -> Any:
    with CurveControlClient(endpoint, host.public_key.encode(), peers[peer], 5000) as client:
        return client.request(cmd, **args)


def test_read_only_peer_when_it_runs_stop_kill_reload_is_refused_naming_command_and_peer(
        daemon: tuple[rig.Host, str, dict[str, tuple[bytes, bytes]]]) -> None:
    """Peer `ro` (no allow) gets status; its stop, kill and reload are FORBIDDEN, each
    naming the command and `ro`, counted in `fleet` and logged; peer `ops` may stop."""
    host, endpoint, peers = daemon
    names = {e["name"] for e in _as("ro", endpoint, host, peers, "status")["engines"]}
    assert names == {"blast"}
    for cmd, args in (("stop", {"target": "blast"}), ("kill", {"target": "blast"}),
                      ("reload", {})):
        with pytest.raises(RemoteError) as refused:
            _as("ro", endpoint, host, peers, cmd, **args)
        assert refused.value.code == "FORBIDDEN", refused.value
        assert f"{cmd!r}" in refused.value.message and "'ro'" in refused.value.message
    assert host.engine("blast")["state"] == "READY"
    assert host.request("fleet")["control"]["denied"] == 3
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = (host.root / "daemon.log").read_text()
        if log.count('"control_command_denied"') >= 3:
            break
        time.sleep(0.05)
    assert log.count('"control_command_denied"') == 3 and '"peer":"ro"' in log
    assert _as("ops", endpoint, host, peers, "stop", target="blast") == {"affected": ["blast"]}
    assert host.request("fleet")["control"]["denied"] == 3
