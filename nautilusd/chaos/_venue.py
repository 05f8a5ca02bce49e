"""`--venue fix`: the chaos topology trades with the FIX gateway in execution's place, against
the test acceptor (python -m engines.fix.acceptor) run as its own process beside nautilusd.

The gateway is killed like every other engine (mid-batch too, on its decisions ring); the
acceptor lives through the whole run, daemon kills included. Reconciled afterwards: the
acceptor's record of executions against the fills ring, order by order (`venue_mismatch`:
orders whose executions differ), orders the venue took that risk never approved
(`venue_unapproved`), and NewOrderSingles that reached it again for an order it had taken
without PossDupFlag (`venue_sent_twice`; a session-level resend with it is counted apart,
`venue_possdup_resends`, and never traded again).
"""

from __future__ import annotations

import copy
import json
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from shm.layout import VERDICT_APPROVED

ROOT = Path(__file__).resolve().parents[2]
VENUES = ("sim", "fix")
MAX_FILL = 60  # the acceptor trades at most this per match: partial fills, the rest cancelled
STARTUP_S = 20.0


def fix_doc(base: dict[str, Any], port: int) -> dict[str, Any]:
    """The chaos topology with the FIX gateway as `execution`; risk watches its session."""
    doc = copy.deepcopy(base)
    engine = doc["engines"]["execution"]
    engine["entry"] = "engines.fix:FixGatewayEngine"
    engine["params"] = {"port": port, "heartbeat_s": 5, "reconnect_ms": 50.0,
                        "status_timeout_s": 5.0}
    doc["engines"]["risk"]["params"]["venues"] = "execution"
    doc["rings"]["ticks"]["readers"].remove("execution")  # the venue has its own market
    return doc


class AcceptorProcess:
    """The test acceptor on a free loopback port, its records in `workdir`."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.dir.mkdir(mode=0o700)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.log = (workdir.parent / "acceptor.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engines.fix.acceptor", "--port", str(self.port), "--dir",
             str(self.dir), "--max-fill", str(MAX_FILL)], cwd=ROOT, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + STARTUP_S
        while not (self.dir / "listening").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"the FIX acceptor did not listen (exit {self.proc.poll()}"
                                   f"); see {workdir.parent / 'acceptor.log'}")
            time.sleep(0.05)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()

    def records(self, name: str) -> list[dict[str, Any]]:
        path = self.dir / name
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def reconcile_venue(acceptor: AcceptorProcess, decisions: np.ndarray, fills: np.ndarray
                    ) -> dict[str, Any]:
    """The venue's record against the rings: mismatched orders, unapproved, sent twice."""
    venue: defaultdict[int, list[tuple[int, float]]] = defaultdict(list)
    for e in acceptor.records("executions.jsonl"):
        venue[int(e["order_id"])].append((int(e["qty"]), float(e["price"])))
    ours: defaultdict[int, list[tuple[int, float]]] = defaultdict(list)
    traded = fills[fills["qty"] > 0]
    for oid, qty, px in zip(traded["order_id"].tolist(), traded["qty"].tolist(),
                            traded["price"].tolist(), strict=True):
        ours[oid].append((qty, px))
    mismatched = sorted(o for o in set(venue) | set(ours)
                        if sorted(venue.get(o, [])) != sorted(ours.get(o, [])))
    approved = {int(d) for d in decisions["order_id"][decisions["verdict"] == VERDICT_APPROVED]}
    taken = [int(o["cl_ord_id"]) for o in acceptor.records("orders.jsonl")]
    resent = acceptor.records("resent.jsonl")
    return {"venue_orders": len(taken), "venue_executions": sum(len(v) for v in venue.values()),
            "venue_mismatch": len(mismatched),
            "venue_unapproved": len(set(taken) - approved),
            "venue_sent_twice": sum(1 for r in resent if not r["poss_dup"])
            + len(taken) - len(set(taken)),
            "venue_possdup_resends": sum(1 for r in resent if r["poss_dup"]),
            "venue_alive": acceptor.alive(),
            "venue_mismatch_sample": [hex(o) for o in mismatched[:5]]}
