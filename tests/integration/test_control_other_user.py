"""A client running as another real user (`nobody`) is refused by a real nautilusd.

Layer 1: the 0700 runtime dir and the 0600 socket stop it at connect(2). Layer 2: with the
permissions opened by mistake, libzmq's IPC_FILTER_UID still drops its connection by its
SO_PEERCRED uid, so a raw request goes unanswered.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _ctl_daemon import BIN, Daemon

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                       reason="needs root and setpriv to run a client as another user"),
]
OTHER = "nobody"


@pytest.fixture
def daemon(tmp_path: Path, runtime_dir: Path, shm_dir: Path) -> Iterator[Daemon]:
    with Daemon(tmp_path, runtime_dir, shm_dir) as d:
        yield d


def as_other_user(*argv: str) -> subprocess.CompletedProcess[str]:
    group = pwd.getpwnam(OTHER).pw_gid
    return subprocess.run(["setpriv", f"--reuid={OTHER}", f"--regid={group}", "--clear-groups",
                           *argv], capture_output=True, text=True, timeout=30, check=False,
                          cwd="/")


def test_status_when_client_is_another_user_is_refused_with_clear_error(daemon: Daemon) -> None:
    """nautilusctl as `nobody` exits 4 with a permission message; health says down (2)."""
    assert stat.S_IMODE((daemon.runtime_dir / "control.sock").stat().st_mode) == 0o600
    refused = as_other_user(str(BIN / "nautilusctl"), "status", "--runtime-dir",
                            str(daemon.runtime_dir))
    assert refused.returncode == 4, refused.stderr
    assert refused.stderr.startswith("permission denied for control socket")
    assert f"uid {pwd.getpwnam(OTHER).pw_uid}" in refused.stderr
    health = as_other_user(str(BIN / "nautilusctl"), "health", "--runtime-dir",
                           str(daemon.runtime_dir))
    assert health.returncode == 2
    assert daemon.status()["daemon"]["pid"] == daemon.proc.pid  # the owner is still served


RAW_PING = """
import sys, zmq, msgpack
ctx = zmq.Context()
s = ctx.socket(zmq.DEALER)
s.linger = 0
s.connect(sys.argv[1])
s.send(msgpack.packb({"cmd": "ping", "args": {}, "id": 1}))
print("answered" if s.poll(1500) else "silent")
s.close()
ctx.term()
"""


def test_raw_request_when_permissions_opened_is_dropped_by_peer_uid(daemon: Daemon) -> None:
    """With dir and socket opened to all, `nobody`'s raw request is dropped unanswered."""
    sock = daemon.runtime_dir / "control.sock"
    os.chmod(daemon.runtime_dir, 0o755)
    os.chmod(sock, 0o666)
    try:
        raw = as_other_user(sys.executable, "-c", RAW_PING, daemon.endpoint)
        assert raw.stdout.strip() == "silent", raw.stderr
        ctl = as_other_user(str(BIN / "nautilusctl"), "status", "--runtime-dir",
                            str(daemon.runtime_dir))
        assert ctl.returncode == 4 and "belongs to uid 0" in ctl.stderr
        # The same raw request from the owner is answered: the silence above is the filter.
        mine = subprocess.run([sys.executable, "-c", RAW_PING, daemon.endpoint],
                              capture_output=True, text=True, timeout=30, check=False)
        assert mine.stdout.strip() == "answered", mine.stderr
    finally:
        os.chmod(daemon.runtime_dir, 0o700)
        os.chmod(sock, 0o600)
