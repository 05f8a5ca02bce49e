"""Fixtures shared by every test: a private shm directory and leak checks.

Each test that touches shared memory gets its own directory under /dev/shm, removed after
the test; the session fails if a segment this session created, or an engine process it
started, is left behind. Other suites and daemons on the host are not this session's concern.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

SHM_ROOT = Path("/dev/shm")
# Names this session creates carry its token, so a leftover check never blames a daemon or
# another suite running beside it (`make run` in another terminal, a second worktree).
SESSION_TOKEN = uuid.uuid4().hex[:8]
# Benchmarks and chaos runs the tests start (in-process or as children) put the token into
# their scratch names too (nautilusd.paths.scratch_id), so the check below covers them.
os.environ["NAUTILUSD_RUN_TAG"] = SESSION_TOKEN
_PRESENT_AT_START: frozenset[str] = frozenset(p.name for p in SHM_ROOT.glob("nautilusd*"))


@pytest.fixture
def shm_dir() -> Iterator[Path]:
    """A fresh directory on tmpfs for this test's segments; must be empty at the end."""
    path = SHM_ROOT / f"nautilusd-test-{SESSION_TOKEN}-{uuid.uuid4().hex[:8]}"
    path.mkdir(mode=0o700)
    try:
        yield path
        left = sorted(p.name for p in path.iterdir())
        assert not left, f"segments left behind in {path}: {left}"
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    """A private 0700 runtime directory (short path: ipc:// names are limited to 107 bytes)."""
    path = Path("/tmp") / f"nd-{uuid.uuid4().hex[:10]}"
    path.mkdir(mode=0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's state root: every daemon it starts without [supervisor].state_dir keeps
    its state under it ($XDG_STATE_HOME/nautilusd/<instance>), never in the user's home."""
    root = tmp_path / "xdg-state"
    root.mkdir(mode=0o700)
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(root))
    return root


@pytest.fixture
def dgram_socket() -> Iterator[tuple[socket.socket, str]]:
    """A bound AF_UNIX datagram socket at a short path, standing in for journald's or
    systemd's notify socket; closed and unlinked after the test."""
    path = f"/tmp/nd-dgram-{uuid.uuid4().hex[:10]}.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5.0)
    try:
        yield sock, path
    finally:
        sock.close()
        Path(path).unlink(missing_ok=True)


def _our_descendants() -> list[psutil.Process]:
    try:
        return psutil.Process(os.getpid()).children(recursive=True)
    except psutil.Error:
        return []


@pytest.fixture(autouse=True)
def _no_leftover_children() -> Iterator[None]:
    """Every test must reap what it started: no child process may outlive the test."""
    yield
    alive = [p for p in _our_descendants() if p.is_running() and p.status() != "zombie"]
    if alive:
        _gone, still = psutil.wait_procs(alive, timeout=3.0)
        for p in still:
            p.kill()
        assert not still, f"processes left behind: {[(p.pid, p.name()) for p in still]}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leftovers = sorted(p.name for p in SHM_ROOT.glob("nautilusd*")
                       if SESSION_TOKEN in p.name and p.name not in _PRESENT_AT_START)
    if leftovers:
        print(f"\nWARNING: shared-memory leftovers in /dev/shm: {leftovers}")
        session.exitstatus = 1
