"""backtest: the pipeline's engines over a Parquet tick file on recorded time (a child process).

No wire message: `engines.backtest.cli`'s `main(argv)` runs in a fresh interpreter (it runs
the engines' logic, which never loads into nautilusctl), its output streamed and its exit
code passed on. Deterministic: the same data and config give byte-identical fills.
CLI:  nautilusctl backtest --data FILE.parquet [--config F.toml] --out DIR
          [--sweep SECTION.KEY=V1,V2,...]... [--models STATE_DIR] [--workers N] [--json]
"""

from __future__ import annotations

import argparse

from nautilusd.ctl import child
from nautilusd.ctl.local import Local
from nautilusd.ctl.session import Session

NAME = "backtest"


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="the Parquet tick file")
    parser.add_argument("--config", default=None, help="a topology TOML: its engines' params")
    parser.add_argument("--out", required=True, help="the results directory")
    parser.add_argument("--sweep", action="append", default=[], metavar="SECTION.KEY=V1,V2",
                        help="a parameter grid axis (repeat for more axes)")
    parser.add_argument("--models", default=None, metavar="STATE_DIR",
                        help="the research strategy trades on the signals of this state "
                             "dir's model in force")
    parser.add_argument("--workers", type=int, default=None,
                        help="runs at once (default: the cores nautilusctl may use)")


def main(args: argparse.Namespace, session: Session) -> int:
    argv = ["--data", args.data, "--out", args.out,
            *(["--config", args.config] if args.config is not None else []),
            *(a for s in args.sweep for a in ("--sweep", s)),
            *(["--models", args.models] if args.models is not None else []),
            *(["--workers", str(args.workers)] if args.workers is not None else []),
            *(["--json"] if args.json else [])]
    return child.run(child.python_main("engines.backtest.cli", argv), session.out,
                     session.err)


COMMAND = Local(name=NAME, help="run the pipeline's engines over recorded ticks (Parquet)",
                arguments=arguments, main=main)
