"""`make install` into a scratch root laid out like a fresh container (its base system: the
host's systemd units), then `systemd-analyze verify --root` on what it installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_UNITS = Path("/usr/lib/systemd/system")


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


def _verify(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_need("systemd-analyze"), "verify", f"--root={root}",
                           "nautilusd.service", "nautilusd@default.service"],
                          capture_output=True, text=True, timeout=60, check=False, cwd="/")


def test_make_install_when_staged_into_scratch_root_lays_out_files_and_verifies(
        tmp_path: Path) -> None:
    """Scripts where the units expect them, units, sysusers and tmpfiles snippets, the example
    config; verify passes on them, and fails naming the binary once the venv is gone;
    uninstall removes all but configs."""
    _need("make")
    if not SYSTEM_UNITS.is_dir():
        pytest.skip("no systemd units on this host to stand in for a container's base system")
    root = tmp_path / "root"
    shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    env = {**os.environ, "MAKEFLAGS": ""}
    make = ["make", "-C", str(ROOT), f"DESTDIR={root}", "PIP_OPTS=--no-deps",
            f"VENV={Path(sys.executable).parents[1]}"]
    done = subprocess.run([*make, "install"], capture_output=True, text=True, timeout=240,
                          env=env, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    for path in ("usr/bin/nautilusd", "usr/bin/nautilusctl",
                 "usr/lib/systemd/system/nautilusd.service",
                 "usr/lib/systemd/system/nautilusd@.service",
                 "usr/lib/sysusers.d/nautilusd.conf", "usr/lib/tmpfiles.d/nautilusd.conf",
                 "etc/nautilusd/default.toml"):
        assert (root / path).exists(), path
    assert os.readlink(root / "usr/bin/nautilusd") == "../lib/nautilusd/bin/nautilusd"
    assert os.access(root / "usr/lib/nautilusd/bin/nautilusd", os.X_OK)
    verified = _verify(root)
    assert verified.returncode == 0, verified.stderr
    shutil.rmtree(root / "usr/lib/nautilusd")  # the check can fail: no program, no pass
    broken = _verify(root)
    assert broken.returncode != 0 and "/usr/bin/nautilusd" in broken.stderr
    gone = subprocess.run([*make, "uninstall"], capture_output=True, text=True, timeout=60,
                          env=env, check=False)
    assert gone.returncode == 0, gone.stderr
    assert not (root / "usr/bin/nautilusd").is_symlink()
    assert not (root / "usr/lib/systemd/system/nautilusd.service").exists()
    assert (root / "etc/nautilusd/default.toml").exists()
