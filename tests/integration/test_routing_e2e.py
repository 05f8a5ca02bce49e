"""End to end: configs/default.toml under a real `nautilusd run` with execution routing over
two simulated venues (lit_a shows a tenth of the touch at no fee, lit_b all of it for a fee),
then over lit_a and the FIX gateway to the test acceptor (its own process, on loopback): the
strategy's orders are split across both, and the journal gives back each parent with its
children, their venues and quantities, as `nautilusctl journal routes` shows them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
import uuid
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import stop_or_kill
from test_fix_gateway import Acceptor, _free_port

from engines.journal import KIND_DECISION, KIND_FILL, journal_records, routes
from engines.statedir import StateDir
from nautilusd.config.tomlwriter import toml_document
from shm.layout import FILL_CHILD_REJECTED, FILL_FILLED, FILL_ROUTED, VERDICT_APPROVED

ROOT = Path(__file__).resolve().parents[2]
FEED_S = 6.0
VENUES = {"lit_a": {"kind": "simulated", "display_fraction": 0.1, "latency_us": 0.0},
          "lit_b": {"kind": "simulated", "display_fraction": 1.0, "taker_bps": 0.5,
                    "per_share": 0.001, "latency_us": 200.0}}


def _config(shm_dir: Path, runtime_dir: Path, state: Path) -> dict[str, Any]:
    doc = tomllib.loads((ROOT / "configs" / "default.toml").read_text())
    doc["supervisor"].update(instance=f"sor{uuid.uuid4().hex[:6]}", shm_dir=str(shm_dir),
                             runtime_dir=str(runtime_dir), state_dir=str(state),
                             metrics_address="", log_format="json", log_level="warning")
    engines = doc["engines"]
    engines["marketdata"]["params"]["stop_after_s"] = FEED_S
    engines["execution"]["params"].update(route=["lit_a", "lit_b"], venues=VENUES)
    engines["gateway"]["params"]["port"] = 0
    return doc


def _run_until_settled(config: Path, state: Path, log_path: Path) -> None:
    """nautilusd run until the feed stopped and the journal's fills stopped growing."""
    log = log_path.open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "nautilusd.main", "run", "--config",
                             str(config)], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                            start_new_session=True)
    try:
        started, seen = time.monotonic(), -1
        deadline = started + FEED_S + 60
        while True:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            n = _journal_fills(state)
            assert time.monotonic() < deadline, (
                f"pipeline did not settle: {n} fills journaled\n" + log_path.read_text()[-3000:])
            if time.monotonic() - started > FEED_S + 2 and n > 0 and n == seen:
                break
            seen = n
            time.sleep(1.0)
    finally:
        stop_or_kill(proc)
        log.close()


def _journal_fills(state: Path) -> int:
    try:
        return int(journal_records(StateDir(state))[KIND_FILL].shape[0])
    except (OSError, ValueError):
        return -1


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_routing_e2e_when_two_venues_parents_split_and_journal_rebuilds_children(
        shm_dir: Path, runtime_dir: Path, tmp_path: Path) -> None:
    """Parents split across lit_a and lit_b (lit_a first: cheaper after fees), children's fills
    sum to their parent's, none over the parent's quantity, each venue at most once per parent;
    `nautilusctl journal routes --json` gives the same parents and children."""
    state = tmp_path / "state"
    config = tmp_path / "sor.toml"
    config.write_text(toml_document(_config(shm_dir, runtime_dir, state)))
    check = subprocess.run([sys.executable, "-m", "nautilusd.main", "check", str(config)],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    _run_until_settled(config, state, tmp_path / "nautilusd.log")
    records = journal_records(StateDir(state))
    fills, decisions = records[KIND_FILL], records[KIND_DECISION]
    qty_of = {int(d["order_id"]): int(d["qty"]) for d in decisions
              if d["verdict"] == VERDICT_APPROVED}
    parents = routes(fills)
    assert len(parents) > 10, f"{len(parents)} routed parents"
    split = [p for p in parents.values() if len({c.venue_id for c in p.children
                                                 if c.filled}) == 2]
    assert split, "no parent traded at both venues"
    for p in parents.values():
        venues = [c.venue_id for c in p.children]
        assert len(venues) == len(set(venues)) and set(venues) <= {1, 2}
        assert sum(c.filled for c in p.children) == p.filled <= qty_of[p.order_id]
        assert sum(c.qty for c in p.children if c.refused is None) <= qty_of[p.order_id]
        assert p.final_status is not None
        assert (p.final_status == FILL_FILLED) == (p.filled == qty_of[p.order_id])
        first = p.children[0]
        assert first.venue_id == 1 or p.children[0].price != 0.0  # lit_a ranks first
    mine = fills[(fills["status"] != FILL_ROUTED) & (fills["status"] != FILL_CHILD_REJECTED)]
    assert set(mine["venue_id"][mine["qty"] > 0].tolist()) == {1, 2}
    shown = subprocess.run([sys.executable, "-m", "nautilusd.ctl.main", "journal", "routes",
                            "--state-dir", str(state), "--json"], capture_output=True,
                           text=True, cwd=ROOT, timeout=60)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    view = {r["order_id"]: r for r in json.loads(shown.stdout)}
    assert set(view) == set(parents)
    some = split[0]
    assert [(c["venue_id"], c["qty"], c["filled"]) for c in view[some.order_id]["children"]] \
        == [(c.venue_id, c.qty, c.filled) for c in some.children]


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_routing_e2e_when_a_venue_is_the_fix_gateway_children_trade_at_the_acceptor(
        shm_dir: Path, runtime_dir: Path, tmp_path: Path) -> None:
    """lit_a (simulated) and fixv (the FIX gateway to the test acceptor, a fee): parents split
    across both; the acceptor's executions equal the journal's fills at venue 2, order by
    order; no order reached the acceptor twice; each parent's children sum to its fills."""
    (tmp_path / "venue").mkdir()
    acceptor = Acceptor(_free_port(), tmp_path / "venue", "--max-fill", "60")
    acceptor.start()
    try:
        state = tmp_path / "state"
        doc = _config(shm_dir, runtime_dir, state)
        doc["engines"]["execution"]["params"].update(route=["lit_a", "fixv"], venues={
            "lit_a": VENUES["lit_a"],
            "fixv": {"kind": "fix", "engine": "fixgw", "orders_ring": "fix_orders",
                     "reports_ring": "fix_fills", "taker_bps": 0.5, "session_timeout_s": 3.0}})
        doc["engines"]["fixgw"] = {
            "entry": "engines.fix:FixGatewayEngine", "group": "support", "wait": "blocking",
            "cpus": [0], "params": {"port": acceptor.port, "heartbeat_s": 5,
                                    "reconnect_ms": 50.0}}
        doc["rings"]["fix_orders"] = {"record": "decision", "capacity": 1024, "policy": "block",
                                      "writer": "execution", "readers": ["fixgw"]}
        doc["rings"]["fix_fills"] = {"record": "fill", "capacity": 1024, "policy": "block",
                                     "writer": "fixgw", "readers": ["execution"]}
        config = tmp_path / "sor-fix.toml"
        config.write_text(toml_document(doc))
        _run_until_settled(config, state, tmp_path / "nautilusd.log")
    finally:
        acceptor.kill()
    fills = journal_records(StateDir(state))[KIND_FILL]
    parents = routes(fills)
    assert len(parents) > 10, f"{len(parents)} routed parents"
    both = [p for p in parents.values() if {c.venue_id for c in p.children if c.filled}
            == {1, 2}]
    assert both, "no parent traded at both lit_a and the FIX venue"
    for p in parents.values():
        assert sum(c.filled for c in p.children) == p.filled
        assert len({c.venue_id for c in p.children}) == len(p.children)
        assert p.final_status is not None
    at_fix = fills[(fills["venue_id"] == 2) & (fills["qty"] > 0)]
    ours = sorted(zip(at_fix["order_id"].tolist(), at_fix["qty"].tolist(),
                      at_fix["price"].tolist(), strict=True))
    venue = sorted((e["order_id"], e["qty"], e["price"]) for e in acceptor.executions())
    assert venue == ours and len(venue) > 0
    sent = acceptor.orders()
    assert len(sent) == len(set(sent))
