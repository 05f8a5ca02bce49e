"""upgrade: roll the engine code now on disk through ENGINE, GROUP or all, one engine at a
time in dependency order, and wait for the end.

Sends the `upgrade` request (nautilusd.control.commands.upgrade), then reads status until
daemon.upgrade is no longer running. Exit 0 when every target runs its new code; exit 1 when
an engine failed and was rolled back (the error names it and why).
CLI:  nautilusctl upgrade [ENGINE|GROUP|all] [--dry-run] [--json] [--timeout-s S]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from nautilusd.control.commands.spec import EXIT_FAILED, EXIT_OK
from nautilusd.ctl.local import Local
from nautilusd.ctl.session import Session

NAME = "upgrade"
POLL_S = 0.1


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", nargs="?", default="all", help="an engine, group or all")
    parser.add_argument("--dry-run", action="store_true",
                        help="list what would restart and the versions now running")
    parser.add_argument("--timeout-s", type=float, default=600.0,
                        help="give up waiting after this long (the upgrade goes on)")


def main(args: argparse.Namespace, session: Session) -> int:
    client = session.control()
    plan: dict[str, Any] = client.request("upgrade", target=args.target,
                                          dry_run=args.dry_run)
    if args.dry_run or not plan.get("targets"):
        session.write(json.dumps(plan) if args.json else _plan_text(plan))
        return EXIT_OK
    deadline = time.monotonic() + args.timeout_s
    while True:
        run = client.request("status")["daemon"].get("upgrade") or {}
        if run.get("state") != "running" or time.monotonic() > deadline:
            break
        time.sleep(POLL_S)  # the refresh period of a wait on the daemon, not a spin
    result = {**plan, "upgrade": run}
    session.write(json.dumps(result) if args.json else _result_text(run))
    if run.get("state") != "done":
        if run.get("state") == "running":
            session.err.write(f"upgrade: still running after {args.timeout_s} s\n")
        elif not args.json:
            session.err.write(f"upgrade: {run.get('error')}\n")
        return EXIT_FAILED
    return EXIT_OK


def _plan_text(plan: dict[str, Any]) -> str:
    lines = [f"would restart {len(plan['targets'])} engine(s), in this order:"]
    lines += [f"  {n}  running {plan['versions'].get(n) or '-'}" for n in plan["targets"]]
    return "\n".join(lines)


def _result_text(run: dict[str, Any]) -> str:
    lines = [f"upgrade {run.get('state')}"]
    lines += [f"  {u['name']}  {u['from']} -> {u['to']}" for u in run.get("upgraded", [])]
    if run.get("failed"):
        lines.append(f"  {run['failed']}  rolled back: {run.get('error')}")
    return "\n".join(lines)


COMMAND = Local(name=NAME, help="roll new engine code through ENGINE|GROUP|all, one at a time",
                arguments=arguments, main=main)
