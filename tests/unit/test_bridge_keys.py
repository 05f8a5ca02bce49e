"""Host keys (nautilusctl keys generate) and the ZAP handler that admits peers by key."""

from __future__ import annotations

import contextlib
import stat
from pathlib import Path
from typing import Any

import pytest
import zmq

from engines.bridge.keys import curve_client, curve_server, key_paths, load_keypair
from engines.bridge.zap import ZapHandler
from nautilusd.control.commands import UsageError
from nautilusd.ctl.commands.keys import generate


def test_generate_when_run_writes_0600_files_in_a_0700_dir_that_load_back(
        tmp_path: Path) -> None:
    """Both files are 0600 in a 0700 directory; the bridges read the same pair back."""
    secret_path, public = generate(tmp_path)
    public_path, _ = key_paths(tmp_path)
    for path in (public_path, secret_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret_path.parent.stat().st_mode) == 0o700
    assert load_keypair(tmp_path)[0].decode() == public


def test_generate_when_keys_exist_refuses_without_force(tmp_path: Path) -> None:
    """An existing pair is never replaced by accident (every peer knows its public key)."""
    generate(tmp_path)
    with pytest.raises(UsageError, match="--force"):
        generate(tmp_path)
    generate(tmp_path, force=True)


def _pair(ctx: zmq.Context[Any], server_keys: tuple[bytes, bytes],
          client_keys: tuple[bytes, bytes]) -> tuple[zmq.Socket[Any], zmq.Socket[Any]]:
    server = ctx.socket(zmq.DEALER)
    server.setsockopt(zmq.LINGER, 0)
    curve_server(server, server_keys[1], server_keys[0], "test")
    port = server.bind_to_random_port("tcp://127.0.0.1")
    client = ctx.socket(zmq.DEALER)
    client.setsockopt(zmq.LINGER, 0)
    curve_client(client, client_keys[1], client_keys[0], server_keys[0])
    client.connect(f"tcp://127.0.0.1:{port}")
    return server, client


@pytest.mark.timeout(20)
def test_zap_when_key_is_unknown_refuses_and_counts_and_admits_the_known_one() -> None:
    """A client whose key is not allowed never gets a message through; the allowed one does."""
    ctx: zmq.Context[Any] = zmq.Context()
    server_keys, known, stranger = zmq.curve_keypair(), zmq.curve_keypair(), zmq.curve_keypair()
    zap = ZapHandler(ctx, [known[0]])
    socks = []
    try:
        server, bad = _pair(ctx, server_keys, stranger)
        socks += [server, bad]
        with contextlib.suppress(zmq.Again):
            bad.send(b"hello", zmq.NOBLOCK)
        poller = zmq.Poller()
        poller.register(zap.socket, zmq.POLLIN)
        while zap.refused == 0 and poller.poll(5000):
            zap.handle()
        assert zap.refused >= 1 and zap.accepted == 0
        assert not server.poll(300)
        good = ctx.socket(zmq.DEALER)
        socks.append(good)
        good.setsockopt(zmq.LINGER, 0)
        curve_client(good, known[1], known[0], server_keys[0])
        good.connect(server.getsockopt(zmq.LAST_ENDPOINT).decode())
        good.send(b"hello")
        while zap.accepted == 0 and poller.poll(5000):
            zap.handle()
        assert server.poll(5000) and server.recv() == b"hello"
    finally:
        for s in socks:
            s.close(linger=0)
        zap.close()
        ctx.term()
