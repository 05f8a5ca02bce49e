"""End to end: configs/default.toml under a real `nautilusd run` with the FIX gateway in
place of the simulated venue, trading with the test acceptor (its own process) on loopback.

The strategy's IOC orders are acknowledged, partly filled (the acceptor trades at most 60
per order) and their rest cancelled; risk watches the gateway's session. The acceptor's
record of executions equals the fills ring's, order by order, and every approved order
reached the venue once.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from daemon_helpers import default_config, run_nautilusd, stop_or_kill
from test_fix_gateway import Acceptor, _free_port

from nautilusd.config.tomlwriter import toml_document
from shm.layout import FILL_ACCEPTED, FILL_CANCELLED, FILL_PARTIAL, VERDICT_APPROVED

FEED_S = 8.0


def _config(shm_dir: Path, runtime_dir: Path, port: int) -> dict[str, Any]:
    doc = default_config("fix", shm_dir, runtime_dir=str(runtime_dir))
    engines = doc["engines"]
    engines["marketdata"]["params"]["stop_after_s"] = FEED_S
    engines["execution"].update(entry="engines.fix:FixGatewayEngine", params={
        "port": port, "heartbeat_s": 5, "reconnect_ms": 50.0})
    engines["risk"]["params"]["venues"] = "execution"
    engines["audit"] = {"entry": "engines.audit:AuditEngine", "group": "support",
                        "wait": "blocking", "params": {"out_dir": "audit"}}
    for ring in ("orders", "decisions", "fills"):
        doc["rings"][ring]["readers"].append("audit")
    doc["rings"]["ticks"]["readers"].remove("execution")  # the venue has its own market
    engines["gateway"]["params"]["port"] = 0
    return doc


def _load(runtime_dir: Path, name: str) -> np.ndarray | None:
    try:
        return np.load(runtime_dir / "audit" / f"{name}.npy")
    except (OSError, ValueError):
        return None


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_fix_e2e_when_default_topology_trades_with_acceptor_fills_match_its_executions(
        shm_dir: Path, runtime_dir: Path, tmp_path: Path) -> None:
    """Acks, partial fills and cancels through a real daemon; the acceptor's executions are
    the fills ring's, order by order; each approved order was sent to the venue once."""
    (tmp_path / "venue").mkdir()
    acceptor = Acceptor(_free_port(), tmp_path / "venue", "--max-fill", "60")
    acceptor.start()
    config = tmp_path / "fix.toml"
    config.write_text(toml_document(_config(shm_dir, runtime_dir, acceptor.port)))
    proc = run_nautilusd(config, tmp_path / "nautilusd.log")
    try:
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
    fills, decisions = _load(runtime_dir, "fills"), _load(runtime_dir, "decisions")
    assert fills is not None and decisions is not None
    approved = {int(d["order_id"]) for d in decisions if d["verdict"] == VERDICT_APPROVED}
    assert len(approved) > 10
    statuses = Counter(fills["status"].tolist())
    assert statuses[FILL_ACCEPTED] > 0 and statuses[FILL_PARTIAL] > 0
    assert statuses[FILL_CANCELLED] > 0
    traded = fills[fills["qty"] > 0]
    venue = sorted((e["order_id"], e["qty"], e["price"]) for e in acceptor.executions())
    ours = sorted(zip(traded["order_id"].tolist(), traded["qty"].tolist(),
                      traded["price"].tolist(), strict=True))
    assert venue == ours and len(venue) > 0
    sent = [int(c) for c in acceptor.orders()]
    assert len(sent) == len(set(sent)) and set(sent) <= approved
