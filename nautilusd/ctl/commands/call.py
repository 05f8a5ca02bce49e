"""call: call an engine's service method (`risk.kill_switch`, `positions.get`) directly.

Wire: an `info` request for the engine's service endpoint, then on that socket
{"method": "risk.kill_switch", "args": {"engage": true}, "id": 1}
      -> {"ok": true, "result": {...}, "id": 1}    (the control envelope, "method" for "cmd")
CLI:  nautilusctl call ENGINE METHOD [KEY=VALUE ...] [--json]
      values are JSON when they parse (`engage=true`, `qty=5`), else strings; exit 0 with
      the result, 1 when the engine serves nothing, answers an error or does not answer.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from nautilusd.control.commands.spec import EXIT_FAILED, EXIT_OK, UsageError
from nautilusd.ctl.client import (
    DaemonNotRunning,
    RemoteError,
    RequestClient,
    RequestTimeout,
    engine_service,
)
from nautilusd.ctl.local import Local
from nautilusd.ctl.session import Session

NAME = "call"


def parse_pairs(pairs: list[str]) -> dict[str, Any]:
    """`["engage=true", "why=manual"]` -> `{"engage": True, "why": "manual"}`."""
    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"not a KEY=VALUE argument: {pair!r}")
        try:
            args[key] = json.loads(raw)
        except json.JSONDecodeError:
            args[key] = raw
    return args


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("engine")
    parser.add_argument("method")
    parser.add_argument("pairs", nargs="*", metavar="KEY=VALUE")


def main(args: argparse.Namespace, session: Session) -> int:
    call_args = parse_pairs(args.pairs)
    services = session.control().request("info").get("services") or {}
    endpoint = services.get(args.engine)
    if not isinstance(endpoint, str):
        serving = ", ".join(sorted(services)) or "none"
        session.err.write(f"engine {args.engine!r} serves no methods (engines serving "
                          f"methods: {serving})\n")
        return EXIT_FAILED
    try:
        with RequestClient(endpoint, engine_service(args.engine), session.timeout_ms) as client:
            result = client.request(args.method, **call_args)
    except (DaemonNotRunning, RequestTimeout, RemoteError) as exc:
        session.err.write(f"error: {exc}\n")
        return EXIT_FAILED
    session.write(json.dumps(result, indent=None if args.json else 2, default=str))
    return EXIT_OK


COMMAND = Local(name=NAME, arguments=arguments, main=main,
                help="call an engine's service method, e.g. risk risk.kill_switch engage=true")
