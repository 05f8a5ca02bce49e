"""orders: the orders the venue gateways know, with their state and venue.

Wire: an `info` request for the engines' service endpoints, then on each
{"method": "orders", "args": {"open": true}, "id": 1} -> {"ok": true, "result": [{...}]}
(an engine without the method answers UNKNOWN_METHOD and is left out).
CLI:  nautilusctl orders [--open] [--json]
      exit 0 with the orders (none is an empty table), 1 when no engine serves `orders` or
      one answers an error; cancel one with `nautilusctl call <venue> cancel order_id=N`.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from nautilusd.control.commands.spec import EXIT_FAILED, EXIT_OK
from nautilusd.control.commands.text import table
from nautilusd.ctl.client import (
    DaemonNotRunning,
    RemoteError,
    RequestClient,
    RequestTimeout,
    engine_service,
)
from nautilusd.ctl.local import Local
from nautilusd.ctl.session import Session

NAME = "orders"
COLUMNS = ("ORDER_ID", "VENUE", "STATE", "SYMBOL", "SIDE", "QTY", "FILLED", "LEAVES", "PRICE")


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--open", action="store_true", help="only orders not over yet")


def main(args: argparse.Namespace, session: Session) -> int:
    services = session.control().request("info").get("services") or {}
    orders: list[dict[str, Any]] = []
    served = []
    for engine, endpoint in sorted(services.items()):
        try:
            with RequestClient(endpoint, engine_service(engine), session.timeout_ms) as c:
                orders.extend(c.request("orders", open=bool(args.open)))
        except RemoteError as exc:
            if exc.code == "UNKNOWN_METHOD":
                continue
            session.err.write(f"error: {engine}: {exc}\n")
            return EXIT_FAILED
        except (DaemonNotRunning, RequestTimeout) as exc:
            session.err.write(f"error: {engine}: {exc}\n")
            return EXIT_FAILED
        served.append(engine)
    if not served:
        session.err.write("no engine serves orders (a venue gateway does, e.g. "
                          "engines.fix:FixGatewayEngine); engines serving methods: "
                          f"{', '.join(sorted(services)) or 'none'}\n")
        return EXIT_FAILED
    if args.json:
        session.write(json.dumps({"venues": served, "orders": orders}))
    else:
        session.write(table(COLUMNS, [
            (o["order_id"], o["venue"], o["state"], o["symbol"],
             {1: "buy", -1: "sell"}.get(o["side"], "?"), o["qty"], o["filled"], o["leaves"],
             o["price"]) for o in orders]))
    return EXIT_OK


COMMAND = Local(name=NAME, arguments=arguments, main=main,
                help="list the orders the venue gateways know, with state and venue "
                     "(--open: not over yet)")
