"""chaos: run the default pipeline under injected faults, then reconcile (a child process).

No wire message: `nautilusd.chaos.run`'s `main(argv)` runs in a fresh interpreter (it starts
its own daemon and reads rings), its output streamed and its exit code passed on.
CLI:  nautilusctl chaos [--duration S] [--kills N] [--seed X] [--faults a,b] [--venue fix]
      [--json]
"""

from __future__ import annotations

import argparse

from nautilusd.ctl import child
from nautilusd.ctl.local import Local
from nautilusd.ctl.session import Session

NAME = "chaos"


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of faults")
    parser.add_argument("--kills", type=int, default=20, help="processes to kill in all")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--faults", default=None, help="special faults to include (a,b,...)")
    parser.add_argument("--venue", choices=("sim", "fix"), default="sim",
                        help="fix: the FIX gateway as execution, to the test acceptor")


def main(args: argparse.Namespace, session: Session) -> int:
    argv = ["--duration", str(args.duration), "--kills", str(args.kills), "--seed",
            str(args.seed), *(["--faults", args.faults] if args.faults is not None else []),
            "--venue", args.venue, *(["--json"] if args.json else [])]
    return child.run(child.python_main("nautilusd.chaos.run", argv), session.out, session.err)


COMMAND = Local(name=NAME, help="run the default pipeline under injected faults, then reconcile",
                arguments=arguments, main=main)
