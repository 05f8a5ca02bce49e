"""A small FIX 4.4 matching venue for tests, benchmarks and dry runs, as its own process:
`python -m engines.fix.acceptor --port P --dir D [--max-fill N] [--skip-seq-at K] [--dup-at K]`.

One client at a time on 127.0.0.1:P. A fixed touch (bid 99.99 / ask 100.01): a marketable
order trades up to --max-fill per match (partials), an IOC's rest is cancelled, a DAY order
rests until a replace makes it marketable. Each new ClOrdID is taken once (a resend of one
is not traded again). Every execution goes to D/executions.jsonl, every order taken to
D/orders.jsonl; sequence numbers live in D (a restart continues them). Faults on request: a
number skipped before the K-th ExecutionReport (a gap), or the K-th sent twice (PossDup).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
from pathlib import Path
from typing import Any

from engines.fix._seqstore import SeqStore
from engines.fix._session import FixSession, FixSessionError
from engines.statedir import StateDir

BID, ASK = 99.99, 100.01


class Venue:
    def __init__(self, args: argparse.Namespace) -> None:
        self.dir = Path(args.dir)
        self.args = args
        store = SeqStore(StateDir.create(self.dir / "state"), "venue.seq")
        self.session = FixSession("VENUE", "NAUTILUSD", store, heartbeat_s=30)
        self.orders: dict[str, dict[str, Any]] = {}
        self.taken = {json.loads(line)["cl_ord_id"] for line in _lines(self.dir / "orders.jsonl")}
        self.exec_n = 0  # ExecIDs are "<pid>-<n>": unique across restarts of this venue
        self.reports = 0

    def on_app(self, msg: Any) -> None:
        kind = msg.get(35)
        if kind == b"D":
            self._new(msg)
        elif kind == b"F":
            self._cancel(msg)
        elif kind == b"G":
            self._replace(msg)

    def _new(self, msg: Any) -> None:
        cl = msg.get(11).decode()
        if cl in self.taken:
            return  # sent before (a resend): never traded twice
        self.taken.add(cl)
        o = {"cl": cl, "side": msg.get(54).decode(), "qty": int(msg.get(38)), "filled": 0,
             "price": float(msg.get(44) or 0.0), "market": msg.get(40) == b"1",
             "tif": msg.get(59).decode() if msg.get(59) else "0", "symbol": msg.get(55)}
        _append(self.dir / "orders.jsonl", {"cl_ord_id": cl, "qty": o["qty"]})
        self.orders[cl] = o
        self._report(o, "0", "0")
        self._match(o)

    def _match(self, o: dict[str, Any]) -> None:
        buy = o["side"] == "1"
        if o["market"] or (o["price"] >= ASK if buy else o["price"] <= BID):
            qty = min(o["qty"] - o["filled"], self.args.max_fill)
            o["filled"] += qty
            px = ASK if buy else BID
            self.exec_n += 1
            exec_id = f"{os.getpid()}-{self.exec_n}"
            _append(self.dir / "executions.jsonl", {"order_id": int(o["cl"]), "exec_id": exec_id,
                                                    "qty": qty, "price": px})
            self._report(o, "F", "1" if o["filled"] < o["qty"] else "2",
                         [(17, exec_id), (32, qty), (31, repr(px))])
        if o["filled"] < o["qty"] and o["tif"] in ("3", "4"):
            o["done"] = True
            self._report(o, "4", "4")

    def _cancel(self, msg: Any) -> None:
        o = self.orders.get(msg.get(41).decode())
        if o is None or o.get("done") or o["filled"] >= o["qty"]:
            self._cancel_reject(msg)
            return
        o["done"] = True
        self._report(o, "4", "4", [(41, o["cl"])], cl=msg.get(11).decode())

    def _replace(self, msg: Any) -> None:
        o = self.orders.get(msg.get(41).decode())
        qty = int(msg.get(38))
        if o is None or o.get("done") or o["filled"] >= o["qty"] or qty <= o["filled"]:
            self._cancel_reject(msg)
            return
        o["qty"], o["price"] = qty, float(msg.get(44))
        self._report(o, "5", "5", [(41, o["cl"])], cl=msg.get(11).decode())
        self._match(o)

    def _cancel_reject(self, msg: Any) -> None:
        self.session.send_app("9", [(11, msg.get(11).decode()), (41, msg.get(41).decode()),
                                    (39, "8"), (434, "1" if msg.get(35) == b"F" else "2")])

    def _report(self, o: dict[str, Any], exec_type: str, status: str,
                extra: list[tuple[int, object]] | None = None, cl: str | None = None) -> None:
        self.reports += 1
        if self.reports == self.args.skip_seq_at:
            self.session.store.advance_out()  # a number never sent: the gateway sees a gap
        extra = list(extra or [])
        if not any(t == 17 for t, _ in extra):
            self.exec_n += 1
            extra.append((17, f"{os.getpid()}-{self.exec_n}"))
        leaves = 0 if o.get("done") or exec_type == "4" else o["qty"] - o["filled"]
        pairs: list[tuple[int, object]] = [(11, cl or o["cl"]), (37, o["cl"]), (150, exec_type),
                                           (39, status), (55, o["symbol"].decode()),
                                           (54, o["side"]), (151, leaves), (14, o["filled"]),
                                           (44, repr(o["price"])), *extra]
        seq = self.session.send_app("8", pairs)
        if self.reports == self.args.dup_at and seq is not None:
            self.session._resend(seq, self.session.sent[seq])  # the same report, PossDup=Y


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _append(path: Path, doc: dict[str, Any]) -> None:
    with path.open("a") as f:
        f.write(json.dumps(doc) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--max-fill", type=int, default=1_000_000)
    ap.add_argument("--skip-seq-at", type=int, default=0)
    ap.add_argument("--dup-at", type=int, default=0)
    args = ap.parse_args()
    venue = Venue(args)
    server = socket.create_server(("127.0.0.1", args.port), reuse_port=False)
    (Path(args.dir) / "listening").write_text(str(args.port))
    while True:
        client, _ = server.accept()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        venue.session.disconnected()
        while True:
            readable, _, _ = select.select([client], [], [], 1.0)
            if readable:
                data = client.recv(65536)
                if not data:
                    break
                try:
                    for msg in venue.session.on_bytes(data):
                        venue.on_app(msg)
                except FixSessionError:
                    break
            venue.session.on_timer()
            out, venue.session.outbox = b"".join(venue.session.outbox), []
            if out:
                client.sendall(out)
        client.close()


if __name__ == "__main__":
    raise SystemExit(main())
