"""End to end: configs/default.toml under a real `nautilusd run` with the FIX gateway in
place of the simulated venue, trading with the test acceptor (its own process) on loopback.

The strategy's IOC orders are acknowledged, partly filled (the acceptor trades at most 60
per order) and their rest cancelled; risk watches the gateway's session. A second order
source (fix_day_orders.py) rests three DAY orders at the venue; through `nautilusctl` one
is replaced to the ask and filled, one replaced larger (partly filled) and then cancelled,
one cancelled (`nautilusctl call execution cancel|replace`, decided by risk on the
gateway's amends ring), and `nautilusctl orders` lists them with their states. The
acceptor's record of executions equals the journal's fills, order by order, and every
approved order reached the venue once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from daemon_helpers import default_config, run_nautilusd, stop_or_kill
from test_fix_gateway import Acceptor, _free_port

from engines.journal import KIND_DECISION, KIND_FILL, journal_records
from engines.statedir import StateDir
from nautilusd.config.tomlwriter import toml_document
from shm.layout import (
    FILL_ACCEPTED,
    FILL_CANCELLED,
    FILL_FILLED,
    FILL_PARTIAL,
    FILL_REPLACED,
    VERDICT_APPROVED,
)

HERE = Path(__file__).resolve().parent
CTL = Path(sys.executable).parent / "nautilusctl"
FEED_S = 8.0
DAY = [(2 << 40) | c for c in (1, 2, 3)]  # fix_day_orders' order ids


def _config(shm_dir: Path, runtime_dir: Path, port: int, state_dir: Path) -> dict[str, Any]:
    doc = default_config("fix", shm_dir, runtime_dir=str(runtime_dir),
                         state_dir=str(state_dir))
    engines = doc["engines"]
    engines["marketdata"]["params"]["stop_after_s"] = FEED_S
    engines["execution"].update(entry="engines.fix:FixGatewayEngine", params={
        "port": port, "heartbeat_s": 5, "reconnect_ms": 50.0})
    engines["risk"]["params"]["venues"] = "execution"
    # The acceptor's touch is fixed (99.99 / 100.01) while the feed's mid walks (0.2 % per
    # root second): with the default 50 bp band a replace at the acceptor's ask was refused
    # `price_band` whenever the walk had gone far enough by then, and never traded (a test
    # of the lifecycle, not of the band: 5 % is past any walk of this run).
    engines["risk"]["params"]["price_band_bps"] = 500.0
    engines["audit"] = {"entry": "engines.audit:AuditEngine", "group": "support",
                        "wait": "blocking", "params": {"out_dir": "audit"}}
    engines["dayorders"] = {"entry": "fix_day_orders:DayOrders", "group": "support",
                            "wait": "blocking", "after": ["risk"]}
    doc["rings"]["day_orders"] = {"record": "order", "capacity": 64, "policy": "block",
                                  "writer": "dayorders", "readers": ["risk", "journal"]}
    doc["rings"]["amends"] = {"record": "amend", "capacity": 64, "policy": "block",
                              "writer": "execution", "readers": ["risk"]}
    doc["rings"]["amend_decisions"] = {"record": "amend", "capacity": 64, "policy": "block",
                                       "writer": "risk", "readers": ["execution"]}
    for ring in ("orders", "decisions", "fills"):
        doc["rings"][ring]["readers"].append("audit")
    doc["rings"]["ticks"]["readers"].remove("execution")  # the venue has its own market
    doc["rings"]["ticks"]["readers"].append("dayorders")
    engines["gateway"]["params"]["port"] = 0
    return doc


def _ctl(runtime_dir: Path, *args: str, check: bool = True) -> Any:
    out = subprocess.run([str(CTL), "--runtime-dir", str(runtime_dir), *args, "--json"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 or not check, (args, out.stdout, out.stderr)
    return json.loads(out.stdout) if out.returncode == 0 else None


def _orders(runtime_dir: Path, check: bool = True) -> dict[int, dict[str, Any]]:
    """`nautilusctl orders --json` by order id ({} while no gateway answers, unchecked)."""
    doc = _ctl(runtime_dir, "orders", check=check)
    return {o["order_id"]: o for o in doc["orders"]} if doc else {}


def _until(cond: Any, what: str, proc: Any, timeout_s: float = 30.0,
           detail: Any = None) -> None:
    """Poll `cond` until true; on the deadline, fail naming `what` and `detail()` if given."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert proc.poll() is None, "nautilusd exited"
        assert time.monotonic() < deadline, \
            f"not in time: {what}" + (f"; {detail()}" if detail is not None else "")
        time.sleep(0.2)


def _load(runtime_dir: Path, name: str) -> np.ndarray | None:
    try:
        return np.load(runtime_dir / "audit" / f"{name}.npy")
    except (OSError, ValueError):
        return None


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_fix_e2e_when_default_topology_trades_with_acceptor_fills_match_its_executions(
        shm_dir: Path, runtime_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Acks, fills, partial fills, replaces and cancels through a real daemon (the operator's
    via nautilusctl); the acceptor's executions are the journal's fills, order by order; each
    approved order was sent to the venue once."""
    (tmp_path / "venue").mkdir()
    acceptor = Acceptor(_free_port(), tmp_path / "venue", "--max-fill", "60")
    acceptor.start()
    config, state_dir = tmp_path / "fix.toml", tmp_path / "state"
    config.write_text(toml_document(_config(shm_dir, runtime_dir, acceptor.port, state_dir)))
    monkeypatch.setenv("PYTHONPATH", str(HERE))  # the DAY order source, for nautilusd
    proc = run_nautilusd(config, tmp_path / "nautilusd.log")
    try:
        _until(lambda: (runtime_dir / "control.sock").exists(), "control socket", proc)
        _until(lambda: set(DAY) <= {o for o, v in _orders(runtime_dir, check=False).items()
                                    if v["state"] == "accepted"}, "DAY orders resting", proc)
        assert {o for o, v in _orders(runtime_dir).items() if v["open"]} >= set(DAY)
        _ctl(runtime_dir, "call", "execution", "replace", f"order_id={DAY[0]}", "qty=60",
             "price=100.01")
        _ctl(runtime_dir, "call", "execution", "replace", f"order_id={DAY[1]}", "qty=120",
             "price=100.01")
        _ctl(runtime_dir, "call", "execution", "cancel", f"order_id={DAY[2]}")
        _until(lambda: _orders(runtime_dir)[DAY[1]]["filled"] == 60, "replaced, traded", proc,
               detail=lambda: [_orders(runtime_dir, check=False).get(o) for o in DAY])
        _ctl(runtime_dir, "call", "execution", "cancel", f"order_id={DAY[1]}")
        _until(lambda: not any(_orders(runtime_dir)[o]["open"] for o in DAY), "DAY orders over",
               proc)
        listed = _orders(runtime_dir)
        assert [listed[o]["state"] for o in DAY] == ["filled", "cancelled", "cancelled"]
        assert all(listed[o]["venue"] == "execution" for o in DAY)
        assert not set(DAY) & {o["order_id"] for o in _ctl(runtime_dir, "orders",
                                                             "--open")["orders"]}
        started, seen = time.monotonic(), [-1]
        deadline = started + FEED_S + 60
        while True:
            assert proc.poll() is None, (tmp_path / "nautilusd.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "pipeline did not settle"
            fills = _load(runtime_dir, "fills")
            n = -1 if fills is None else int(fills.size)
            if time.monotonic() - started > FEED_S + 2 and n > 0 and n == seen[0]:
                break
            seen[0] = n
            time.sleep(1.0)
    finally:
        stop_or_kill(proc)
        acceptor.kill()
    records = journal_records(StateDir(state_dir))
    fills, decisions = records[KIND_FILL], records[KIND_DECISION]
    ring_fills = _load(runtime_dir, "fills")
    assert ring_fills is not None and ring_fills.size == fills.size
    approved = {int(d["order_id"]) for d in decisions if d["verdict"] == VERDICT_APPROVED}
    assert len(approved) > 10 and set(DAY) <= approved
    statuses = Counter(fills["status"].tolist())
    assert statuses[FILL_ACCEPTED] > 0 and statuses[FILL_PARTIAL] > 0
    assert statuses[FILL_CANCELLED] > 0 and statuses[FILL_FILLED] > 0
    assert statuses[FILL_REPLACED] == 2
    by = {o: fills[fills["order_id"] == o]["status"].tolist() for o in DAY}
    assert by[DAY[0]] == [FILL_ACCEPTED, FILL_REPLACED, FILL_FILLED]
    assert by[DAY[1]] == [FILL_ACCEPTED, FILL_REPLACED, FILL_PARTIAL, FILL_CANCELLED]
    assert by[DAY[2]] == [FILL_ACCEPTED, FILL_CANCELLED]
    traded = fills[fills["qty"] > 0]
    venue = sorted((e["order_id"], e["qty"], e["price"]) for e in acceptor.executions())
    ours = sorted(zip(traded["order_id"].tolist(), traded["qty"].tolist(),
                      traded["price"].tolist(), strict=True))
    assert venue == ours and len(venue) > 0
    sent = [int(c) for c in acceptor.orders()]
    assert len(sent) == len(set(sent)) and set(sent) <= approved
