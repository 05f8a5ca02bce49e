"""The `nautilusd` command: `run` the daemon in the foreground, or `check` a config.

Thin: it parses arguments and hands over to `nautilusd.daemon` and `nautilusd.config.check`.
"""

from __future__ import annotations

import argparse
import sys

from nautilusd.startphases import PHASES
from nautilusd.version import VersionAction


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nautilusd", description=__doc__)
    parser.add_argument("--version", action=VersionAction)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the supervisor in the foreground")
    run.add_argument("--config", "-c", required=True, help="TOML topology file")
    run.add_argument("--runtime-dir", help="override [supervisor].runtime_dir")
    run.add_argument("--state-dir", help="override [supervisor].state_dir")
    run.add_argument("--summary", action="store_true", help="show a live one-screen summary")
    check = sub.add_parser("check", help="validate a config and explain it; exit 2 if invalid")
    check.add_argument("config", help="TOML topology file")
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    PHASES.mark("interpreter")  # the exec, the interpreter's own start, this module
    args = _parser().parse_args(argv)
    if args.command == "check":
        from nautilusd.config.check import main as check_main

        return check_main(args)
    # A re-executed image answers `status` on its control socket before the daemon's modules
    # (numpy, structlog, the engines' SDK) are imported: that import is most of its start.
    from nautilusd.control.early import resume_from_environment

    handed = resume_from_environment()
    PHASES.mark("early_control")
    from nautilusd.daemon import run

    PHASES.mark("imports")
    return run(args, handed)


if __name__ == "__main__":
    sys.exit(main())
