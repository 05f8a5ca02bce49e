"""Stale orders never trade: execution stopped for 5 s under configs/default.toml, then
started again; every order approved meanwhile either expires (counted) or trades within its
time to live, and nothing older than its time to live is filled."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from daemon_helpers import default_config, run_nautilusd, stop_or_kill

from nautilusd.config.tomlwriter import toml_document
from nautilusd.ctl.client import ControlClient
from shm.layout import FILL_EXPIRED, VERDICT_APPROVED

OUTAGE_S = 5.0
TTL_MS = 500  # the shipped strategy's order_ttl_ms


def _config(tmp_path: Path, shm_dir: Path, runtime_dir: Path) -> Path:
    doc = default_config("st", shm_dir, runtime_dir=str(runtime_dir),
                         state_dir=str(tmp_path / "state"))
    assert doc["engines"]["strategy"]["params"].get("order_ttl_ms", TTL_MS) == TTL_MS
    doc["engines"]["audit"] = {"entry": "engines.audit:AuditEngine", "group": "support",
                               "wait": "blocking", "params": {"out_dir": "audit"}}
    for ring in ("decisions", "fills"):
        doc["rings"][ring]["readers"].append("audit")
    path = tmp_path / "stale.toml"
    path.write_text(toml_document(doc))
    return path


def _wait(cond: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _audited(runtime_dir: Path, ring: str) -> np.ndarray:
    try:
        return np.load(runtime_dir / "audit" / f"{ring}.npy")
    except (OSError, ValueError):
        return np.zeros(0)


def _stale_counter(ctl: ControlClient) -> int:
    rows = ctl.request("status")["engines"]
    row = next(r for r in rows if r["name"] == "execution")
    return int(row["named_counters"]["stale"])


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_execution_when_stopped_5s_then_started_trades_no_stale_order(
    tmp_path: Path, shm_dir: Path, runtime_dir: Path
) -> None:
    """The backlog of an outage is refused as stale (FILL_EXPIRED, counted in status);
    no order trades after its time to live."""
    config, log = _config(tmp_path, shm_dir, runtime_dir), tmp_path / "nautilusd.log"
    proc = run_nautilusd(config, log)
    ctl = ControlClient(f"ipc://{runtime_dir}/control.sock", timeout_ms=10_000)
    try:
        _wait(lambda: _audited(runtime_dir, "fills").size > 0, 60, "no fill before the stop")
        ctl.request("stop", target="execution")
        stopped_ns = time.time_ns()
        _wait(lambda: time.time_ns() - stopped_ns > OUTAGE_S * 1e9, OUTAGE_S + 5, "outage")
        ctl.request("start", target="execution")
        started_ns = time.time_ns()
        _wait(lambda: _stale_counter(ctl) > 0, 30, "nothing was refused as stale")
        # Everything decided before the restart has its outcome on the fills ring.
        _wait(lambda: _audited(runtime_dir, "fills").size > 0 and
              _audited(runtime_dir, "fills")["ts_ns"].max() > started_ns + 1e9, 30,
              "no fill after the restart")
        stale = _stale_counter(ctl)
    finally:
        ctl.close()
        stop_or_kill(proc)
    assert proc.returncode == 0, log.read_text()[-2000:]
    fills, decisions = _audited(runtime_dir, "fills"), _audited(runtime_dir, "decisions")
    traded = fills[fills["qty"] > 0]
    age_ns = traded["ts_ns"] - traded["order_ts_ns"]
    assert (age_ns <= TTL_MS * 1_000_000).all(), f"stale fills: {np.sort(age_ns)[-5:]}"
    expired = fills[fills["status"] == FILL_EXPIRED]
    # The counter is the restarted execution's (zeroed at its spawn); orders that went stale
    # while the pipeline started (execution is the last to be ready) are the first one's.
    assert expired[expired["ts_ns"] >= started_ns].size == stale > 0
    # Every order approved while execution was down and old by the restart expired.
    approved = decisions[decisions["verdict"] == VERDICT_APPROVED]
    sent = approved[(approved["ts_ns"] > stopped_ns)
                    & (approved["ts_ns"] < started_ns - TTL_MS * 1_000_000)]
    assert sent.size > 0
    assert set(sent["order_id"].tolist()) <= set(expired["order_id"].tolist())
    # And nothing expired that was young enough to trade when execution got it.
    assert (expired["ts_ns"] - expired["order_ts_ns"] > TTL_MS * 1_000_000).all()
