"""Exactly-once across kills: a block ring bridged between two real nautilusd (on loopback,
CURVE), its receiver and sender SIGKILLed again and again while records flow, and the far
daemon itself SIGKILLed and started again with its rings kept; the far ring ends up holding
the source's records, each once, in order."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nautilusd.bench import _bridge_rig as rig
from shm.layout import RAW64

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]
RATE_PER_S = 8000.0  # the source ring (262,144 records) holds the whole run
KILLS = 5


def _wait(what: str, check: Callable[[], Any], timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (StopIteration, rig.NautilusdError, OSError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: last {last!r}")


def _configs(a: rig.Host, b: rig.Host, port: int) -> tuple[str, str]:
    def fleet(me: rig.Host, peer: rig.Host) -> str:
        return (f'[fleet]\nhost = "{me.name}"\n\n[[peers]]\nname = "{peer.name}"\n'
                f'address = "127.0.0.1"\npublic_key = "{peer.public_key}"\n')
    conf_a = a.header() + f"""
[engines.blast]
entry = "nautilusd.bench._blast:BlastEngine"
cpus = [0]
[engines.blast.params]
rate_per_s = {RATE_PER_S}
max_batch = 64

[engines.src_out]
entry = "engines.bridge:RingSenderEngine"
cpus = [1]
max_restarts = 100
[engines.src_out.params]
peer = "b"
port = {port}
record = "raw64"
max_batch = 256

[rings.src]
record = "raw64"
capacity = 262144
policy = "block"
writer = "blast"
readers = ["src_out"]
""" + fleet(a, b)
    conf_b = b.header() + f"""
[engines.src_in]
entry = "engines.bridge:RingReceiverEngine"
cpus = [0]
max_restarts = 100
[engines.src_in.params]
peer = "a"
port = {port}
bind = "127.0.0.1"
record = "raw64"

[rings.dst]
record = "raw64"
capacity = 262144
policy = "block"
writer = "src_in"
readers = []
""" + fleet(b, a)
    return conf_a, conf_b


@pytest.fixture()
def pair(tmp_path: Path) -> Iterator[tuple[rig.Host, rig.Host, str]]:
    a, b = rig.hosts(tmp_path, None, "r")
    rig.keys(a, b)
    conf_a, conf_b = _configs(a, b, 21000 + os.getpid() % 20000)
    with rig.running(a, b, conf_a, conf_b):
        yield a, b, conf_b


def _seqs(host: rig.Host, ring: str) -> np.ndarray:
    """The sequence number (first 8 bytes, BlastEngine) of every record ring `ring` holds."""
    records = host.ring(ring, RAW64)
    return np.ascontiguousarray(records["data"][:, :8]).view("<u8").reshape(-1)


def _kill_engine(host: rig.Host, engine: str) -> None:
    """SIGKILL `engine` once records have moved since its start, and wait for its respawn."""
    row = host.engine(engine)
    seen = len(_seqs(host, "dst")) if engine == "src_in" else 0
    if engine == "src_in":
        _wait("records written since the last kill", lambda: len(_seqs(host, "dst")) > seen
              + 200)
    os.kill(row["pid"], signal.SIGKILL)
    _wait(f"{engine} respawned", lambda: (lambda r: r["pid"] not in (None, row["pid"])
                                         and r["state"] == "READY")(host.engine(engine)))


def test_block_bridge_when_receiver_sender_and_far_daemon_are_killed_delivers_each_once(
        pair: tuple[rig.Host, rig.Host, str]) -> None:
    """Five SIGKILLs of the receiver, five of the sender, one of b's nautilusd (rings kept):
    b's ring equals a's, 0..n-1 in order, and nothing was reported lost."""
    a, b, conf_b = pair
    _wait("records bridged", lambda: len(_seqs(b, "dst")) > 1000)
    for _ in range(KILLS):
        _kill_engine(b, "src_in")
    for _ in range(KILLS):
        before = len(_seqs(b, "dst"))
        _kill_engine(a, "src_out")
        _wait("records after the sender's restart",
              lambda before=before: len(_seqs(b, "dst")) > before + 200)
    # b's daemon killed outright (its engines go with it) and started again: it adopts the
    # rings it left, and the receiver resumes from its ring and mark
    assert b.proc is not None
    b.proc.kill()
    b.proc.wait(15)
    held = len(_seqs(b, "dst"))
    b.start(conf_b)
    b.wait_ready()
    _wait("records after b's restart", lambda: len(_seqs(b, "dst")) > held + 500)
    a.request("stop", target="blast", timeout_ms=15000)
    sent = _seqs(a, "src")
    _wait("b catching up with a", lambda: len(_seqs(b, "dst")) >= len(sent), 60)
    got = _seqs(b, "dst")
    assert len(sent) > 5000
    dup = len(got) - len(np.unique(got))
    assert dup == 0, f"{dup} records delivered twice"
    assert np.array_equal(got, np.arange(len(sent), dtype="<u8")), (
        len(got), len(sent), np.flatnonzero(np.diff(got.astype(np.int64)) != 1)[:5])
    assert np.array_equal(sent, got)
    counters = {**b.engine("src_in")["named_counters"], **a.engine("src_out")["named_counters"]}
    assert counters["lost"] == 0, counters
    resumed = [line for line in (b.root / "daemon.log").read_text().splitlines()
               if '"bridge_receiver_started"' in line and '"resume_at":-1' not in line]
    assert len(resumed) >= KILLS + 1, "a restarted receiver did not resume from its ring"
