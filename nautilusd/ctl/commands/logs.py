"""logs: an engine's log records, from journald, else from the runtime dir's log file.

No wire message: journalctl (`ENGINE=<name>`) or `tail` runs as a child, streaming.
CLI:  nautilusctl logs ENGINE [-f] [--json]     (--json: journald's JSON records)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess

from nautilusd.control.commands.spec import EXIT_FAILED, EXIT_OK
from nautilusd.ctl import child
from nautilusd.ctl.local import Local
from nautilusd.ctl.session import Session

NAME = "logs"
LOG_LINES = 200


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("engine")
    parser.add_argument("-f", "--follow", action="store_true")


def main(args: argparse.Namespace, session: Session) -> int:
    """journald records with ENGINE=<name>, else <runtime_dir>/logs/<engine>.log."""
    match = f"ENGINE={args.engine}"
    journalctl = shutil.which("journalctl")
    if journalctl:
        probe = subprocess.run([journalctl, "-q", "-o", "cat", "-n", "1", match],
                               capture_output=True, text=True, check=False)
        if probe.returncode == 0 and probe.stdout.strip():
            argv = [journalctl, "-q", "-o", "json" if args.json else "cat", "-n", str(LOG_LINES),
                    *(["-f"] if args.follow else []), match]
            return child.run(argv, session.out, session.err, interrupted=EXIT_OK)
    log_file = session.runtime_dir / "logs" / f"{args.engine}.log"
    if log_file.is_file():
        argv = ["tail", "-n", str(LOG_LINES), *(["-F"] if args.follow else []), str(log_file)]
        return child.run(argv, session.out, session.err, interrupted=EXIT_OK)
    session.err.write(f"no logs for engine {args.engine!r}: no journal records with {match} "
                      f"and no {log_file}\n")
    return EXIT_FAILED


COMMAND = Local(name=NAME, help="an engine's log records", arguments=arguments, main=main)
