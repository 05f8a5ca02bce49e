"""check: validate a config file and explain what it would run (`nautilusd check`).

No wire message: `nautilusd check` runs as a child process, since reading a config loads
the engine contract and the ring layouts, which nautilusctl never imports.
CLI:  nautilusctl check CONFIG [--json]     (exit 0 valid, 2 invalid with every error)
"""

from __future__ import annotations

import argparse

from nautilusd.ctl import child
from nautilusd.ctl.local import Local
from nautilusd.ctl.session import Session

NAME = "check"


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config")


def main(args: argparse.Namespace, session: Session) -> int:
    argv = ["check", args.config, *(["--json"] if args.json else [])]
    return child.run(child.python_main("nautilusd.main", argv), session.out, session.err)


COMMAND = Local(name=NAME, help="validate a config file", arguments=arguments, main=main)
