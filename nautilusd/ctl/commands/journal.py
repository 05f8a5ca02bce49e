"""journal: read the state directory's journal (`nautilusd/journalview.py`, a child process).

No wire message: it reads files, and works with no daemon running.
CLI:  nautilusctl journal [export | routes] [--state-dir DIR | --config F] [--since T]
      [--order-id N] [--json] [--parquet FILE]
"""

from __future__ import annotations

import argparse

from nautilusd.ctl import child
from nautilusd.ctl.local import Local
from nautilusd.ctl.session import Session

NAME = "journal"
_FORWARDED = ("state_dir", "config", "since", "order_id", "parquet")


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=("show", "export", "routes"),
                        default="show")
    parser.add_argument("--state-dir", help="the instance's state directory")
    parser.add_argument("--config", help="take the state directory from this topology")
    parser.add_argument("--since", help="records at or after T (ns since the epoch, ISO 8601)")
    parser.add_argument("--order-id", help="only this order's records")
    parser.add_argument("--parquet", help="export: the Parquet file to write (needs pyarrow)")


def main(args: argparse.Namespace, session: Session) -> int:
    argv = [args.action]
    for name in _FORWARDED:
        if getattr(args, name) is not None:
            argv += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    if args.instance:
        argv += ["--instance", args.instance]
    if args.json:
        argv.append("--json")
    return child.run(child.python_main("nautilusd.journalview", argv), session.out,
                     session.err)


COMMAND = Local(name=NAME, help="read the journal in the state directory", arguments=arguments,
                main=main)
