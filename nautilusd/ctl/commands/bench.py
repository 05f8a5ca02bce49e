"""bench: run a benchmark suite (`nautilusd/bench/<suite>.py`) as a child process.

No wire message: the suite's `main(argv)` runs in a fresh interpreter, its output streamed
and its exit code passed on; the suites' code never loads into nautilusctl.
CLI:  nautilusctl bench SUITE [--quick] [--json] [SUITE OPTIONS ...]   (unknown SUITE: 2)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nautilusd
from nautilusd.control.commands.spec import EXIT_USAGE
from nautilusd.ctl import child
from nautilusd.ctl.local import Local
from nautilusd.ctl.session import Session

NAME = "bench"


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("rest", nargs=argparse.REMAINDER)


def suites() -> list[str]:
    """The suites: public modules of nautilusd/bench that run as a script (read, not
    imported)."""
    return sorted(path.stem for root in nautilusd.__path__
                  for path in (Path(root) / "bench").glob("*.py")
                  if not path.stem.startswith("_")
                  and '\nif __name__ == "__main__":' in path.read_text())


def main(args: argparse.Namespace, session: Session) -> int:
    if args.suite not in suites():
        session.err.write(f"no bench suite {args.suite!r} (nautilusd/bench/{args.suite}.py); "
                          f"suites: {', '.join(suites())}\n")
        return EXIT_USAGE
    argv = [*(["--quick"] if args.quick else []), *(["--json"] if args.json else []),
            *args.rest]
    return child.run(child.python_main(f"nautilusd.bench.{args.suite}", argv), session.out,
                     session.err)


COMMAND = Local(name=NAME, help="run a benchmark suite", arguments=arguments, main=main)
