"""research: fit a model from recorded data and register it (a child process).

No wire message: `engines.models.train`'s `main(argv)` runs in a fresh interpreter, its
output streamed and its exit code passed on. Then `nautilusctl call models models.activate
version=N` puts it in force in a running models engine without a restart.
CLI:  nautilusctl research train --data FILE.parquet --state-dir DIR [--config F.toml]
          [--ridge L] [--activate] [--json]
"""

from __future__ import annotations

import argparse

from nautilusd.ctl import child
from nautilusd.ctl.local import Local
from nautilusd.ctl.session import Session

NAME = "research"


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("train",))
    parser.add_argument("--data", required=True, help="the Parquet tick file")
    parser.add_argument("--state-dir", required=True, help="the daemon's state directory")
    parser.add_argument("--config", default=None, help="a topology TOML: its features params")
    parser.add_argument("--ridge", type=float, default=1.0)
    parser.add_argument("--activate", action="store_true",
                        help="make it current (a running engine takes it at its next start "
                        "or on models.activate)")


def main(args: argparse.Namespace, session: Session) -> int:
    argv = ["--data", args.data, "--state-dir", args.state_dir, "--ridge", str(args.ridge),
            *(["--config", args.config] if args.config is not None else []),
            *(["--activate"] if args.activate else []), *(["--json"] if args.json else [])]
    return child.run(child.python_main("engines.models.train", argv), session.out,
                     session.err)


COMMAND = Local(name=NAME, help="fit a model from recorded ticks and register it",
                arguments=arguments, main=main)
