"""A small FIX 4.4 matching venue for tests, benchmarks and dry runs, as its own process:
`python -m engines.fix.acceptor --port P --dir D [--max-fill N] [--skip-seq-at K] [--dup-at K]
[--repeat-on-logon]`.

One client at a time on 127.0.0.1:P. A fixed touch (bid 99.99 / ask 100.01): a marketable
order trades up to --max-fill per match (partials), an IOC's rest is cancelled, a DAY order
rests until a replace makes it marketable. Each new ClOrdID is taken once (a resend of one
is not traded again). Every execution goes to D/executions.jsonl, every order taken to
D/orders.jsonl; sequence numbers live in D (a restart continues them). An OrderStatusRequest
is answered with an ExecutionReport ExecType=I (OrdStatus, CumQty, LeavesQty, AvgPx; an order
it never took: OrdStatus=8 with OrdRejReason=5; one taken before a restart of the venue:
cancelled, with what its executions traded). Faults on request: a number skipped before the
K-th ExecutionReport (a gap), the K-th sent twice (PossDup), or at every logon after the
first the last trade's ExecutionReport sent again as a new message (PossResend, same ExecID).
"""

from __future__ import annotations

import argparse
import contextlib
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
        self.logons = 0
        self.last_trade: list[tuple[int, object]] | None = None
        self.traded: dict[str, tuple[int, float]] = {}  # before a restart: qty, notional
        for line in _lines(self.dir / "executions.jsonl"):
            e = json.loads(line)
            qty, notional = self.traded.get(str(e["order_id"]), (0, 0.0))
            self.traded[str(e["order_id"])] = (qty + e["qty"], notional + e["qty"] * e["price"])

    def on_logon(self) -> None:
        """A client logged on: with --repeat-on-logon, after the first, the last trade again."""
        self.logons += 1
        if self.args.repeat_on_logon and self.logons > 1 and self.last_trade is not None:
            self.session.send_app("8", [*self.last_trade, (97, "Y")])

    def on_app(self, msg: Any) -> None:
        kind = msg.get(35)
        if kind == b"D":
            self._new(msg)
        elif kind == b"F":
            self._cancel(msg)
        elif kind == b"G":
            self._replace(msg)
        elif kind == b"H":
            self._status(msg)

    def _status(self, msg: Any) -> None:
        cl = msg.get(11).decode()
        o = self.orders.get(cl)
        ids = [(11, cl), (17, self._exec_id()), (150, "I"), (55, msg.get(55).decode()),
               (54, msg.get(54).decode()), (790, (msg.get(790) or b"").decode())]
        if o is None and cl not in self.taken:
            self.session.send_app("8", [*ids, (37, "NONE"), (39, "8"), (103, 5), (14, 0),
                                        (151, 0), (6, "0.0")])
            return
        if o is None:  # taken before this venue restarted: its book went with it
            qty, notional = self.traded.get(cl, (0, 0.0))
            self.session.send_app("8", [*ids, (37, cl), (39, "4"), (14, qty), (151, 0),
                                        (6, repr(notional / qty if qty else 0.0))])
            return
        filled = o["filled"]
        status = "2" if filled >= o["qty"] else "4" if o.get("done") else "1" if filled else "0"
        leaves = 0 if status in ("2", "4") else o["qty"] - filled
        self.session.send_app("8", [*ids, (37, cl), (39, status), (14, filled), (151, leaves),
                                    (6, repr(o["notional"] / filled if filled else 0.0))])

    def _exec_id(self) -> str:
        self.exec_n += 1
        return f"{os.getpid()}-{self.exec_n}"

    def _new(self, msg: Any) -> None:
        cl = msg.get(11).decode()
        if cl in self.taken:  # sent before (a resend): never traded twice
            _append(self.dir / "resent.jsonl", {"cl_ord_id": cl,
                                                "poss_dup": msg.get(43) == b"Y"})
            return
        self.taken.add(cl)
        o = {"cl": cl, "side": msg.get(54).decode(), "qty": int(msg.get(38)), "filled": 0,
             "price": float(msg.get(44) or 0.0), "market": msg.get(40) == b"1",
             "tif": msg.get(59).decode() if msg.get(59) else "0", "symbol": msg.get(55),
             "notional": 0.0}
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
            o["notional"] += qty * px
            exec_id = self._exec_id()
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
            extra.append((17, self._exec_id()))
        leaves = 0 if o.get("done") or exec_type == "4" else o["qty"] - o["filled"]
        pairs: list[tuple[int, object]] = [(11, cl or o["cl"]), (37, o["cl"]), (150, exec_type),
                                           (39, status), (55, o["symbol"].decode()),
                                           (54, o["side"]), (151, leaves), (14, o["filled"]),
                                           (44, repr(o["price"])), *extra]
        seq = self.session.send_app("8", pairs)
        if exec_type == "F":
            self.last_trade = pairs
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
    ap.add_argument("--repeat-on-logon", action="store_true")
    args = ap.parse_args()
    venue = Venue(args)
    server = socket.create_server(("127.0.0.1", args.port), reuse_port=False)
    (Path(args.dir) / "listening").write_text(str(args.port))
    while True:
        client, _ = server.accept()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        venue.session.disconnected()
        with contextlib.suppress(OSError):  # the client died (reset, broken pipe)
            serve(venue, client)
        client.close()


def serve(venue: Venue, client: socket.socket) -> None:
    """One client's session, until it closes, breaks the rules or drops."""
    while True:
        readable, _, _ = select.select([client], [], [], 1.0)
        if readable:
            data = client.recv(65536)
            if not data:
                return
            was_up = venue.session.up
            try:
                for msg in venue.session.on_bytes(data):
                    venue.on_app(msg)
            except FixSessionError:
                return
            if venue.session.up and not was_up:
                venue.on_logon()
        venue.session.on_timer()
        out, venue.session.outbox = b"".join(venue.session.outbox), []
        if out:
            client.sendall(out)

if __name__ == "__main__":
    raise SystemExit(main())
