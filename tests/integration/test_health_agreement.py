"""The one health model: `nautilusctl health`, GET /health and `status --json` give the same
state and reasons for a real daemon, with a critical engine stopped and with one FATAL."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from _ctl_daemon import DEFAULT_ENGINES, Daemon, engine_toml

pytestmark = pytest.mark.timeout(120)


def _probes(d: Daemon) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], int, int]:
    """(ctl health --json, /health body, status --json health, ctl exit, HTTP status)."""
    ctl = d.ctl("health", "--json")
    status = json.loads(d.ctl("status", "--json").stdout)
    url = status["daemon"]["health_url"]
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            http_status, body = reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        http_status, body = exc.code, json.loads(exc.read())
    return json.loads(ctl.stdout), body, status["health"], ctl.returncode, http_status


def _agree(d: Daemon, expected: str) -> dict[str, Any]:
    """Poll until all three probes report `expected`; then they must be equal."""
    def settled() -> Any:
        found = _probes(d)
        return found if all(doc["status"] == expected for doc in found[:3]) else None

    ctl, http, status, exit_code, http_status = d.wait_for(settled)
    assert ctl == http == status
    assert exit_code == ctl["code"] and http_status == (200 if ctl["code"] == 0 else 503)
    return ctl


def test_health_when_critical_engine_stopped_or_fatal_every_probe_agrees(
        tmp_path: Path, runtime_dir: Path, shm_dir: Path) -> None:
    """Stopped critical gamma: degraded with reason gamma STOPPED in all three; a FATAL
    critical engine: down naming it in all three."""
    engines = DEFAULT_ENGINES + engine_toml("critcrash", (0,), group="critical",
                                            crash_after_s=30.0)
    d = Daemon(tmp_path, runtime_dir, shm_dir, engines, metrics_address="127.0.0.1:0")
    try:
        assert _agree(d, "healthy")["reasons"] == []
        assert d.ctl("stop", "gamma").returncode == 0
        degraded = _agree(d, "degraded")
        assert degraded["reasons"] == [{"engine": "gamma", "state": "STOPPED",
                                        "group": "critical", "critical": True}]
        assert "gamma STOPPED (critical group 'critical')" in d.ctl("health").stdout
        quick = engines.replace("crash_after_s = 30.0", "crash_after_s = 0.05")
        assert d.ctl("reload", str(d.write_config("nautilusd.toml", quick))).returncode == 0
        down = _agree(d, "down")
        assert down["critical_fatal"] == ["critcrash"] and "gamma" in down["not_ready"]
    finally:
        d.stop()
