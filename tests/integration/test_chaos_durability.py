"""Chaos with the durability faults: graceful daemon restarts and reboots (SIGKILL of
everything, segments and runtime dir removed) lose, double and invent nothing, positions
match a replay of the journal, and an engaged kill switch comes back engaged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_chaos_when_daemon_restarts_and_reboots_loses_nothing_and_keeps_the_switch() -> None:
    """A short seeded run: 3 daemon restarts and 2 reboots among engine kills reconcile
    from the journal with every loss counter at 0."""
    result = subprocess.run(
        [sys.executable, "-m", "nautilusd.chaos.run", "--duration", "20", "--kills", "7",
         "--faults", "daemon_restart,reboot", "--seed", "1", "--json"],
        capture_output=True, text=True, timeout=230, cwd=ROOT)
    doc = json.loads(result.stdout)
    summary, rows = doc["summary"], doc["results"]
    assert result.returncode == 0, json.dumps(rows, indent=1)[-4000:]
    assert summary["daemon_restarts"] >= 3 and summary["reboots"] >= 2
    for key in ("orders_lost", "duplicate_fills", "unapproved_fills", "positions_mismatch",
                "kill_switch_lost", "engines_not_recovered"):
        assert summary[key] == 0, (key, summary)
    assert summary["orders_published"] > 0
    recon = next(r for r in rows if r["fault"] == "reconcile")["detail"]
    assert recon["source"] == "journal" and recon["approved"] > 0
    durable = [r for r in rows if r["fault"] in ("daemon_restart", "reboot")]
    assert all(r["recovered"] for r in durable)
    engaged = [r for r in durable if r["detail"]["engaged_before"]]
    assert engaged and all(r["detail"]["killed_after"] is True for r in engaged)
    reboots = [r for r in durable if r["fault"] == "reboot"]
    assert all(r["detail"]["reconciled"]["records"] > 0 for r in reboots)
