"""`nautilusctl journal`: the state directory's journal, read for an operator.

Runs as a child of nautilusctl (it reads record layouts, which the client never imports):
`python -m nautilusd.journalview [export | routes] [--state-dir DIR | --config F] [--since T]
[--order-id N] [--json] [--parquet FILE]`. T is ns since the epoch or an ISO 8601 time;
`export --parquet FILE` needs pyarrow (`pip install 'nautilusd[parquet]'`); `routes` lists
each routed parent order with its child orders (venue, sent, filled, refused).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from engines.journal import (
    KIND_ACTION,
    KIND_DECISION,
    KIND_FILL,
    KIND_ORDER,
    journal_records,
    read_all,
    routes,
)
from engines.statedir import StateDir
from nautilusd import paths
from nautilusd.ctl.since import parse_since as epoch_s
from shm.layout import DECISION, FILL, ORDER

DTYPES = {KIND_ORDER: ("order", ORDER), KIND_DECISION: ("decision", DECISION),
          KIND_FILL: ("fill", FILL)}
EXIT_USAGE = 2


def parse_since(text: str) -> int:
    """ns since the epoch: digits as ns, else what `logs --since` takes (an age such as 10m,
    or an ISO 8601 time, naive = UTC): one grammar for the CLI's windows."""
    if text.isdigit():
        return int(text)
    try:
        return int(epoch_s(text) * 1e9)
    except argparse.ArgumentTypeError as exc:
        raise ValueError(str(exc)) from None


def decode(seq: int, kind: int, payload: memoryview) -> dict[str, Any]:
    """One journal record as a JSON-ready map: seq, kind and the record's own fields."""
    if kind == KIND_ACTION:
        doc = msgpack.unpackb(bytes(payload))
        return {"seq": seq, "kind": "action", "ts_ns": doc.get("ts_ns"),
                "topic": doc.get("topic"), "body": doc.get("body")}
    name, dtype = DTYPES.get(kind, ("unknown", None))
    if dtype is None or len(payload) != dtype.itemsize:
        return {"seq": seq, "kind": name, "bytes": len(payload)}
    row = np.frombuffer(bytes(payload), dtype)[0]
    fields = {f: row[f].item() for f in dtype.names or () if not f.startswith("_")}
    return {"seq": seq, "kind": name, **fields}


def records(state: StateDir, since_ns: int | None, order_id: int | None
            ) -> Iterator[dict[str, Any]]:
    for seq, kind, payload in read_all(state):
        rec = decode(seq, kind, payload)
        if since_ns is not None and (rec.get("ts_ns") or 0) < since_ns:
            continue
        if order_id is not None and rec.get("order_id") != order_id:
            continue
        yield rec


def route_rows(state: StateDir, order_id: int | None) -> list[dict[str, Any]]:
    """Each routed parent order of the journal, its children by number (venue ids as the fills
    carry them: 1 + the index in execution's `route`)."""
    fills = journal_records(state)[KIND_FILL]
    return [{"order_id": p.order_id, "filled": p.filled, "final_status": p.final_status,
             "children": [{"child": c.child, "venue_id": c.venue_id, "qty": c.qty,
                           "price": c.price, "filled": c.filled, "refused": c.refused}
                          for c in p.children]}
            for p in routes(fills).values() if order_id is None or p.order_id == order_id]


def _state_dir(args: argparse.Namespace) -> Path:
    if args.state_dir:
        return Path(args.state_dir)
    if args.config:
        from nautilusd.config.load import load_config

        sup = load_config(args.config).supervisor
        return sup.state_dir or paths.default_state_dir(sup.instance)
    return paths.default_state_dir(args.instance)


def export_parquet(rows: list[dict[str, Any]], out: Path) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise SystemExit("journal export --parquet needs pyarrow: "
                         "pip install 'nautilusd[parquet]'") from None
    flat = [{k: (json.dumps(v) if isinstance(v, dict | list) else v) for k, v in r.items()}
            for r in rows]
    pq.write_table(pa.Table.from_pylist(flat), out)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nautilusctl journal", description=__doc__)
    p.add_argument("action", nargs="?", choices=("show", "export", "routes"), default="show")
    p.add_argument("--state-dir", help="the instance's state directory")
    p.add_argument("--config", help="take the state directory from this topology")
    p.add_argument("--instance", default="default")
    p.add_argument("--since", help="records at or after T (ns since the epoch, or ISO 8601)")
    p.add_argument("--order-id", type=int, help="only this order's records")
    p.add_argument("--json", action="store_true", help="one JSON list")
    p.add_argument("--parquet", type=Path, help="export: the Parquet file to write")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        since = None if args.since is None else parse_since(args.since)
    except ValueError as exc:
        print(f"nautilusctl journal: {exc}", file=sys.stderr)
        return EXIT_USAGE
    state = StateDir(_state_dir(args))
    if args.action == "routes":
        rows = route_rows(state, args.order_id)
        if args.json:
            json.dump(rows, sys.stdout)
            print()
        for r in rows if not args.json else ():
            kids = " ".join(f"{c['child']}@venue{c['venue_id']}:{c['filled']}/{c['qty']}"
                            + (f"(refused {c['refused']})" if c["refused"] is not None else "")
                            for c in r["children"])
            print(f"order_id={r['order_id']} filled={r['filled']} "
                  f"final_status={r['final_status']} children={kids}")
        return 0
    rows = list(records(state, since, args.order_id))
    if args.action == "export":
        if args.parquet is None:
            print("nautilusctl journal export: --parquet FILE is required", file=sys.stderr)
            return EXIT_USAGE
        export_parquet(rows, args.parquet)
        print(f"{len(rows)} records -> {args.parquet}")
    elif args.json:
        json.dump(rows, sys.stdout, default=str)
        print()
    else:
        for r in rows:
            print(" ".join(f"{k}={v}" for k, v in r.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
