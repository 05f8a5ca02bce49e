"""End to end: configs/default.toml under a real `nautilusd run`, reconciled from the rings.

An audit engine reads every order, decision, fill and tick ring; marketdata stops after a
while so the pipeline drains; then orders, decisions, fills and positions must agree exactly.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from daemon_helpers import default_config, run_nautilusd, stop_or_kill

from nautilusd import paths
from nautilusd.config.tomlwriter import toml_document
from shm.layout import FILL_FILLED, ORDER, VERDICT_APPROVED
from shm.status import W_PID, StatusTable

FEED_S = 12.0
AUDITED = ("ticks", "orders", "decisions", "fills")


def _test_config(shm_dir: Path, runtime_dir: Path) -> dict[str, Any]:
    """default.toml with private dirs, a feed that stops, a tight rate limit and an auditor."""
    doc = default_config("e2e", shm_dir, runtime_dir=str(runtime_dir))
    engines = doc["engines"]
    engines["marketdata"]["params"]["stop_after_s"] = FEED_S
    engines["risk"]["params"]["max_orders_per_s"] = 20  # some orders must be refused
    engines["positions"]["params"].update(snapshot_file="positions.json",
                                          snapshot_interval_s=0.3)
    engines["audit"] = {"entry": "engines.audit:AuditEngine", "group": "support",
                        "wait": "blocking", "params": {"out_dir": "audit"}}
    for ring in AUDITED:
        doc["rings"][ring]["readers"].append("audit")
    engines["gateway"]["params"]["port"] = 0  # parallel runs must not collide on one port
    return doc


def _load(runtime_dir: Path, name: str) -> np.ndarray:
    return np.load(runtime_dir / "audit" / f"{name}.npy")


def _counts(runtime_dir: Path) -> tuple[int, ...] | None:
    """(orders, decisions, fills) audited, once every order has its decision and positions
    has read every fill; None before that."""
    try:
        snap = json.loads((runtime_dir / "positions.json").read_text())
        orders, decisions = _load(runtime_dir, "orders"), _load(runtime_dir, "decisions")
        fills = _load(runtime_dir, "fills")
    except (OSError, ValueError):
        return None
    if orders.size and orders.size == decisions.size and snap.get("fills_read") == fills.size:
        return orders.size, decisions.size, fills.size
    return None


def _wait_for(cond: Any, timeout_s: float, proc: subprocess.Popen[bytes],
              poll_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert proc.poll() is None, f"nautilusd exited early with {proc.returncode}"
        assert time.monotonic() < deadline, "pipeline did not drain in time"
        time.sleep(poll_s)


def _engine_pid(shm_dir: Path, instance: str, name: str) -> int:
    """The pid of engine `name` in the daemon's status table (0 while it has none)."""
    table = StatusTable.attach(paths.status_segment(instance), directory=shm_dir)
    try:
        return next((table.slot(i).get(W_PID) for i in range(table.slots)
                     if table.slot(i).name == name), 0)
    finally:
        table.close()


@pytest.fixture(params=["calm", "risk", "execution"])
def pipeline(request: pytest.FixtureRequest, shm_dir: Path, runtime_dir: Path,
             tmp_path: Path) -> Path:
    """Run the topology until its feed stopped and everything drained; yield the audit dir.
    With "risk" or "execution", that engine is SIGKILLed mid-run and restarted by the daemon."""
    config = tmp_path / "e2e.toml"
    doc = _test_config(shm_dir, runtime_dir)
    config.write_text(toml_document(doc))
    proc = run_nautilusd(config, tmp_path / "nautilusd.log")
    try:
        started, seen = time.monotonic(), [None]
        if request.param != "calm":
            victim, instance = request.param, doc["supervisor"]["instance"]
            _wait_for(lambda: (_counts(runtime_dir) or (0,))[0] > 100, 30, proc)
            killed = _engine_pid(shm_dir, instance, victim)
            assert killed > 0, f"{victim} has no pid in the status table"
            os.kill(killed, signal.SIGKILL)
            _wait_for(lambda: _engine_pid(shm_dir, instance, victim) not in (0, killed), 20,
                      proc)  # the daemon restarted it

        def settled() -> bool:
            """Drained, and unchanged since the previous look a second ago: the feed is over."""
            now = _counts(runtime_dir)
            stable = now is not None and now == seen[0]
            seen[0] = now
            return stable and time.monotonic() - started > FEED_S

        _wait_for(settled, FEED_S + 40, proc, poll_s=1.0)
    finally:
        stop_or_kill(proc)
    assert proc.returncode == 0, (tmp_path / "nautilusd.log").read_text()[-3000:]
    return runtime_dir


@pytest.mark.slow
@pytest.mark.timeout(110)
def test_pipeline_when_run_for_a_while_reconciles_exactly(pipeline: Path) -> None:
    """Orders, decisions, fills and positions of a real run agree record for record, also
    when risk or execution was killed mid-run and restarted."""
    orders, decisions = _load(pipeline, "orders"), _load(pipeline, "decisions")
    fills, ticks = _load(pipeline, "fills"), _load(pipeline, "ticks")
    snap = json.loads((pipeline / "positions.json").read_text())
    assert orders.size > 50 and fills.size > 0

    # every order published has exactly one decision, carrying the order unchanged
    assert np.unique(orders["order_id"]).size == orders.size
    assert sorted(decisions["order_id"].tolist()) == sorted(orders["order_id"].tolist())
    by_id = {int(d["order_id"]): d for d in decisions}
    for o in orders:
        assert by_id[int(o["order_id"])].tobytes()[: ORDER.itemsize] == o.tobytes()
    approved = {i for i, d in by_id.items() if d["verdict"] == VERDICT_APPROVED}
    assert 0 < len(approved) < orders.size  # the tight rate limit refused some

    # no unapproved order reaches the venue; none is filled over its quantity
    assert set(fills["order_id"].tolist()) <= approved
    filled: Counter[int] = Counter()
    for f in fills:
        filled[int(f["order_id"])] += int(f["qty"])
    qty = {int(o["order_id"]): int(o["qty"]) for o in orders}
    assert all(filled[i] <= qty[i] for i in filled)
    for f in fills[fills["status"] == FILL_FILLED]:
        assert filled[int(f["order_id"])] == qty[int(f["order_id"])]
    assert np.unique(fills["exec_id"]).size == fills.size

    _reconcile_positions(fills, ticks, snap)


def _reconcile_positions(fills: np.ndarray, ticks: np.ndarray, snap: dict[str, Any]) -> None:
    """Positions equal net filled quantity; P&L equals cash flows plus position at the mark."""
    net: defaultdict[tuple[int, int], int] = defaultdict(int)
    cash = 0.0
    for f in fills[fills["qty"] > 0]:
        net[(int(f["strategy_id"]), int(f["symbol_id"]))] += int(f["side"]) * int(f["qty"])
        cash -= int(f["side"]) * int(f["qty"]) * float(f["price"])
    rows = {(p["strategy_id"], p["symbol_id"]): p for p in snap["positions"]}
    assert {k: v for k, v in net.items()} == {k: p["qty"] for k, p in rows.items()}
    value = 0.0
    mids = {int(t["seq"]): (t["bid"] + t["ask"]) / 2 for t in ticks}
    for p in rows.values():
        if p["qty"]:
            value += p["qty"] * p["mark"]
        if p["mark_seq"] in mids:  # the mark is the mid of the last tick positions read
            assert p["mark"] == pytest.approx(mids[p["mark_seq"]], rel=1e-12)
    assert snap["pnl"] == pytest.approx(cash + value, rel=1e-9, abs=1e-6)
    assert snap["realised"] + snap["unrealised"] == pytest.approx(snap["pnl"], abs=1e-6)
    assert not math.isnan(snap["pnl"])


@pytest.mark.timeout(60)
def test_pipeline_when_risk_is_down_fills_nothing(shm_dir: Path, runtime_dir: Path) -> None:
    """Fail closed: with strategy and execution running but no risk, orders pile up unfilled."""
    from nautilusd.bench._pipeline_rig import Rig, engine, ring
    from shm.ring import ring_stats

    rings = [ring("ticks", "tick", "marketdata", ("strategy", "execution"), policy="overwrite"),
             ring("orders", "order", "strategy", ("risk",)),
             ring("decisions", "decision", "risk", ("execution",)),
             ring("fills", "fill", "execution", ())]
    engines = [engine("marketdata", "engines.marketdata:MarketDataEngine", rate_per_s=2000.0,
                      bars=False),
               engine("strategy", "engines.strategy:StrategyEngine", threshold_bps=0.0,
                      cooldown_ms=0.0, max_position=10**9),
               engine("execution", "engines.execution:ExecutionEngine",
                      publish_executions=False),
               engine("risk", "engines.risk:RiskEngine")]  # configured, never started
    with Rig(shm_dir, runtime_dir, ("A", "B"), rings, engines) as rig:
        for name in ("execution", "strategy", "marketdata"):
            rig.start(name)
        orders = rig.segment("orders")
        deadline = time.monotonic() + 30
        while ring_stats(orders, directory=shm_dir)["cursor"] < 500:
            assert time.monotonic() < deadline, "strategy sent too few orders"
            time.sleep(0.05)
        assert all(rig.ready(n) for n in ("execution", "strategy", "marketdata"))
        assert ring_stats(rig.segment("fills"), directory=shm_dir)["cursor"] == 0
        assert rig.slot("execution").get(7) == 0  # W_RECORDS_IN: no decision ever read
        codes = rig.stop()
    assert codes == {"execution": 0, "strategy": 0, "marketdata": 0}
