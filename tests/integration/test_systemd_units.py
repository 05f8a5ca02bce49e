"""The systemd units and snippets: `systemd-analyze verify`, the directives they promise, and
sysusers/tmpfiles applied to a scratch root."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
UNITS = ("nautilusd.service", "nautilusd@.service")
INSTALLED = "/usr/bin/nautilusd"
# The entry point pip installed for this checkout: the same program the unit runs.
VENV_NAUTILUSD = Path(sys.executable).with_name("nautilusd")


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


def directives(unit: Path) -> dict[str, list[str]]:
    """Every `Key=value` of a unit file (keys may repeat, as systemd allows)."""
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        match = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if match:
            found.setdefault(match[1], []).append(match[2])
    return found


def test_verify_when_units_point_at_installed_binary_passes(tmp_path: Path) -> None:
    """systemd-analyze verify accepts both units, run against this checkout's nautilusd."""
    analyze = _need("systemd-analyze")
    assert VENV_NAUTILUSD.exists(), f"no installed entry point at {VENV_NAUTILUSD}"
    for name in UNITS:
        text = (ROOT / "systemd" / name).read_text()
        assert f"ExecStart={INSTALLED} run --config /etc/nautilusd/" in text
        # Only the binary's location differs on a development host: nothing else is edited.
        (tmp_path / name).write_text(text.replace(INSTALLED, str(VENV_NAUTILUSD)))
    result = subprocess.run(
        [analyze, "verify", *(str(tmp_path / n) for n in UNITS)],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


def test_verify_when_binary_missing_fails_naming_it(tmp_path: Path) -> None:
    """verify is a real check: a unit whose ExecStart does not exist is rejected."""
    analyze = _need("systemd-analyze")
    text = (ROOT / "systemd" / "nautilusd.service").read_text()
    unit = tmp_path / "nautilusd.service"
    unit.write_text(text.replace(INSTALLED, str(tmp_path / "missing")))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                            timeout=30, cwd=tmp_path)
    assert result.returncode != 0 and "missing" in result.stderr


@pytest.mark.parametrize("name", UNITS)
def test_unit_when_read_has_notify_watchdog_restart_and_capabilities(name: str) -> None:
    """Each unit is Type=notify with watchdog, bounded restarts, mixed kill and two capabilities."""
    d = directives(ROOT / "systemd" / name)
    expected = {
        "Type": ["notify"], "NotifyAccess": ["main"], "Restart": ["on-failure"],
        "KillMode": ["mixed"], "LimitMEMLOCK": ["infinity"], "User": ["nautilusd"],
        "AmbientCapabilities": ["CAP_SYS_NICE CAP_IPC_LOCK"],
        "CapabilityBoundingSet": ["CAP_SYS_NICE CAP_IPC_LOCK"],
        "RuntimeDirectoryMode": ["0700"], "ProtectSystem": ["strict"],
        "RestrictAddressFamilies": ["AF_UNIX AF_INET AF_INET6"],
    }
    for key, value in expected.items():
        assert d.get(key) == value, f"{name}: {key}={d.get(key)}"
    for key in ("WatchdogSec", "StartLimitIntervalSec", "StartLimitBurst", "TimeoutStopSec",
                "CPUAffinity"):
        assert key in d, f"{name} lacks {key}="
    assert "/dev/shm" in d["ReadWritePaths"]
    # PrivateDevices keeps the host's /dev/shm (bind-mounted); RestrictRealtime would forbid FIFO.
    assert d.get("PrivateDevices") == ["yes"] and d.get("RestrictRealtime") == ["no"]
    instance = "%i" if "@" in name else "default"
    assert d["RuntimeDirectory"] == [f"nautilusd/{instance}"]
    assert f"/etc/nautilusd/{instance}.toml" in d["ExecStart"][0]


def test_sysusers_and_tmpfiles_when_applied_to_scratch_root_create_user_and_dirs(
    tmp_path: Path,
) -> None:
    """The sysusers snippet creates the nautilusd user; the tmpfiles snippet then applies."""
    sysusers, tmpfiles = _need("systemd-sysusers"), _need("systemd-tmpfiles")
    etc = tmp_path / "etc"
    etc.mkdir()
    for db in ("passwd", "group", "shadow", "gshadow"):
        (etc / db).touch()
    run = {"capture_output": True, "text": True, "timeout": 30}
    made = subprocess.run([sysusers, f"--root={tmp_path}",
                           str(ROOT / "systemd" / "nautilusd.sysusers.conf")], **run)
    assert made.returncode == 0, made.stderr
    assert re.search(r"^nautilusd:x:\d+:\d+:.*:/usr/sbin/nologin$", (etc / "passwd").read_text(),
                     re.M)
    applied = subprocess.run([tmpfiles, "--create", f"--root={tmp_path}",
                              str(ROOT / "systemd" / "nautilusd.tmpfiles.conf")], **run)
    assert applied.returncode == 0, applied.stderr
    assert (tmp_path / "run" / "nautilusd").is_dir()
    assert (tmp_path / "var" / "lib" / "nautilusd").stat().st_mode & 0o777 == 0o750
