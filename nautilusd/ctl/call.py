"""`nautilusctl call ENGINE METHOD [KEY=VALUE ...]`: call an engine's service directly.

Engines serve methods such as `risk.kill_switch` or `positions.get` on a ROUTER socket in
the runtime dir; values are parsed as JSON when they can be (`engage=true`, `qty=5`), else
taken as strings. Exit 0 with the result, 1 on a service error or time-out.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def parse_pairs(pairs: list[str]) -> dict[str, Any]:
    """`["engage=true", "why=manual"]` -> `{"engage": True, "why": "manual"}`."""
    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(f"not a KEY=VALUE argument: {pair!r}")
        try:
            args[key] = json.loads(raw)
        except json.JSONDecodeError:
            args[key] = raw
    return args


def run(args: argparse.Namespace, runtime_dir: Path, out: TextIO, err: TextIO) -> int:
    # Imported here: nautilusctl stays free of engine-side code unless this command runs.
    from engines.errors import EngineError
    from engines.service import ServiceClient, service_endpoint

    try:
        call_args = parse_pairs(args.pairs)
    except ValueError as exc:
        err.write(f"{exc}\n")
        return EXIT_USAGE
    endpoint = service_endpoint(runtime_dir, args.engine)
    if not Path(endpoint.removeprefix("ipc://")).exists():
        err.write(f"engine {args.engine!r} serves no methods (no socket at {endpoint})\n")
        return EXIT_FAILED
    try:
        with ServiceClient(endpoint, timeout_ms=args.timeout_ms) as client:
            result = client.call(args.method, **call_args)
    except EngineError as exc:
        err.write(f"error: {exc}\n")
        return EXIT_FAILED
    out.write(json.dumps(result, indent=None if args.json else 2, default=str) + "\n")
    return EXIT_OK
