"""Budgets end to end: configs/default.toml plus the portfolio engine under a real `nautilusd
run`, risk with `budgets = "required"`: orders past the strategy's budget are rejected with the
budget reason (status, decisions ring); with the portfolio stopped, a restarted risk still has
the budget (its state dir), then the budget goes stale and risk approves nothing for the
strategy (no_budget) until budgets come again."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from daemon_helpers import default_config, run_nautilusd, stop_or_kill

from engines.errors import ServiceTimeout
from engines.service import ServiceClient, service_endpoint
from nautilusd.config.tomlwriter import toml_document
from nautilusd.ctl.client import ControlClient
from shm.layout import REASON_BUDGET, REASON_NO_BUDGET, VERDICT_APPROVED

BUDGET = 250  # units of gross: the strategy's orders are 100 each, so the third one breaches
MAX_AGE_S = 5.0


def _config(tmp_path: Path, shm_dir: Path, runtime_dir: Path) -> Path:
    doc = default_config("bud", shm_dir, runtime_dir=str(runtime_dir),
                         state_dir=str(tmp_path / "state"))
    strategy_id = doc["engines"]["strategy"]["params"]["strategy_id"]
    doc["engines"]["portfolio"] = {
        "entry": "engines.portfolio:PortfolioEngine", "group": "support", "wait": "blocking",
        "after": ["positions"],
        "params": {"strategies": str(strategy_id), "total_budget": float(BUDGET),
                   "rebalance_interval_s": 0.2}}
    doc["engines"]["risk"]["params"].update(budgets="required", budget_max_age_s=MAX_AGE_S)
    doc["engines"]["audit"] = {"entry": "engines.audit:AuditEngine", "group": "support",
                               "wait": "blocking", "params": {"out_dir": "audit"}}
    doc["rings"]["decisions"]["readers"].append("audit")
    path = tmp_path / "budgets.toml"
    path.write_text(toml_document(doc))
    return path


def _status(runtime_dir: Path, proc: subprocess.Popen[bytes]) -> Any:
    """risk.status, retried until risk answers (a deadline, not a sleep)."""
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, f"nautilusd exited with {proc.returncode}"
        try:
            with ServiceClient(service_endpoint(runtime_dir, "risk"), timeout_ms=500) as c:
                return c.call("risk.status")
        except ServiceTimeout:
            assert time.monotonic() < deadline, "risk never answered risk.status"


def _wait_status(runtime_dir: Path, proc: subprocess.Popen[bytes], cond: Any, timeout_s: float,
                 what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while not cond(status := _status(runtime_dir, proc)):
        assert time.monotonic() < deadline, f"{what}: {status}"
        time.sleep(0.1)
    return status


def _risk_pid(ctl: ControlClient) -> int:
    rows = ctl.request("status")["engines"]
    row = next(r for r in rows if r["name"] == "risk")
    return int(row["pid"]) if row["state"] == "READY" else 0


def _decisions(runtime_dir: Path) -> np.ndarray:
    try:
        return np.load(runtime_dir / "audit" / "decisions.npy")
    except (OSError, ValueError):
        return np.zeros(0)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_risk_when_budgets_required_rejects_past_budget_and_without_one(
    tmp_path: Path, shm_dir: Path, runtime_dir: Path
) -> None:
    """Real processes: past the budget -> `budget`; portfolio stopped -> stale -> `no_budget`;
    the strategy's exposure never passes its budget."""
    config, log = _config(tmp_path, shm_dir, runtime_dir), tmp_path / "nautilusd.log"
    proc = run_nautilusd(config, log)
    ctl = ControlClient(f"ipc://{runtime_dir}/control.sock", timeout_ms=10_000)
    try:
        status = _wait_status(runtime_dir, proc,
                              lambda s: s["rejected"].get("budget", 0) > 0 and s["accepted"],
                              60, "no order rejected past its budget")
        mine = status["budgets"]["strategies"]["1"]
        assert status["budgets"]["mode"] == "required" and mine["budget"] == BUDGET
        assert mine["exposure"] <= BUDGET
        stopped_at = time.time_ns()
        ctl.request("stop", target="portfolio")
        pid = _risk_pid(ctl)
        ctl.request("restart", target="risk")
        deadline = time.monotonic() + 30
        while _risk_pid(ctl) in (pid, 0):
            assert time.monotonic() < deadline, "risk was not restarted"
            time.sleep(0.05)
        again = _status(runtime_dir, proc)["budgets"]["strategies"].get("1", {})
        if (time.time_ns() - stopped_at) / 1e9 < MAX_AGE_S - 0.5:  # else it is stale already
            assert again.get("budget") == BUDGET, again  # from the state dir: no portfolio
        seen = status["rejected"].get("no_budget", 0)
        status = _wait_status(runtime_dir, proc,
                              lambda s: s["rejected"].get("no_budget", 0) > seen + 2,
                              30, "no order rejected for a stale budget")
        assert status["budgets"]["strategies"].get("1", {}).get("budget") is None
        stale_at = time.time_ns()
        ctl.request("start", target="portfolio")
        _wait_status(runtime_dir, proc,
                     lambda s: s["budgets"]["strategies"].get("1", {}).get("budget") == BUDGET,
                     30, "budgets never came back")
    finally:
        ctl.close()
        stop_or_kill(proc)
    assert proc.returncode == 0, log.read_text()[-2000:]
    text = log.read_text()
    assert "risk_budget_stale" in text
    decided = _decisions(runtime_dir)
    assert (decided["reason"] == REASON_BUDGET).any()
    no_budget = decided[decided["reason"] == REASON_NO_BUDGET]
    assert no_budget.size and (no_budget["decided_ts_ns"] < stale_at).any()
    approved = decided[decided["verdict"] == VERDICT_APPROVED]
    # while the budget was stale nothing was approved: between the first no_budget after the
    # stop and the restart of the portfolio
    first_stale = int(no_budget["decided_ts_ns"][no_budget["decided_ts_ns"] > stopped_at].min())
    gap = approved[(approved["decided_ts_ns"] > first_stale)
                   & (approved["decided_ts_ns"] < stale_at)]
    assert gap.size == 0, gap
