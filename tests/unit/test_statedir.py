"""The state directory: made 0700, verified, and files in it opened without following links."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engines.errors import StateError
from engines.statedir import StateDir
from nautilusd import paths

pytestmark = pytest.mark.timeout(10)


def test_create_when_missing_makes_a_0700_directory(tmp_path: Path) -> None:
    """A missing state dir (and its parents) is made 0700."""
    state = StateDir.create(tmp_path / "a" / "b")
    assert state.path.is_dir()
    assert (state.path.stat().st_mode & 0o777) == 0o700


def test_create_when_a_symlink_is_refused(tmp_path: Path) -> None:
    """A symlink in place of the state dir is refused, not followed."""
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(StateError, match="link"):
        StateDir.create(tmp_path / "link")


def test_create_when_open_to_others_is_refused(tmp_path: Path) -> None:
    """A state dir others can enter is refused with its mode named."""
    (tmp_path / "open").mkdir()
    os.chmod(tmp_path / "open", 0o755)
    with pytest.raises(StateError, match="mode 755"):
        StateDir.create(tmp_path / "open")


def test_open_when_file_is_a_symlink_is_refused(tmp_path: Path) -> None:
    """A state file that is a symlink is never opened through."""
    state = StateDir.create(tmp_path / "s")
    (tmp_path / "target").write_bytes(b"x")
    (state.path / "risk.state").symlink_to(tmp_path / "target")
    with pytest.raises(StateError, match=r"risk\.state"):
        state.open("risk.state", os.O_RDWR)


def test_open_when_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    """A state file with a mode open to others is refused."""
    state = StateDir.create(tmp_path / "s")
    (state.path / "f").write_bytes(b"x")
    os.chmod(state.path / "f", 0o644)
    with pytest.raises(StateError, match="mode 644"):
        state.open("f")


def test_open_when_name_has_a_slash_is_refused(tmp_path: Path) -> None:
    """Names are one path component: no way out of the directory."""
    state = StateDir.create(tmp_path / "s")
    with pytest.raises(StateError, match="plain"):
        state.open("../escape", os.O_RDWR | os.O_CREAT)


def test_write_atomic_then_read_returns_the_bytes(tmp_path: Path) -> None:
    """write_atomic replaces a file whole; read returns it, None when missing."""
    state = StateDir.create(tmp_path / "s").subdir("journal")
    assert state.read("x") is None
    state.write_atomic("x", b"one")
    state.write_atomic("x", b"two")
    assert state.read("x") == b"two"
    assert (state.path / "x").stat().st_mode & 0o777 == 0o600
    assert state.names() == ["x"]


def test_default_state_dir_prefers_systemd_then_xdg(monkeypatch: pytest.MonkeyPatch) -> None:
    """$STATE_DIRECTORY (systemd) wins; else $XDG_STATE_HOME/nautilusd/<instance>."""
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/nautilusd/eq:/other")
    assert paths.default_state_dir("eq") == Path("/var/lib/nautilusd/eq")
    monkeypatch.delenv("STATE_DIRECTORY")
    monkeypatch.setenv("XDG_STATE_HOME", "/x")
    assert paths.default_state_dir("eq") == Path("/x/nautilusd/eq")
