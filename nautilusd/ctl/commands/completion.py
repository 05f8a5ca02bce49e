"""completion: print a bash or zsh completion script generated from nautilusctl's parser.

Wire: none (client only).
CLI:  nautilusctl completion bash|zsh
      e.g. `source <(nautilusctl completion bash)` in ~/.bashrc
"""

from __future__ import annotations

import argparse

from nautilusd.control.commands.spec import EXIT_OK
from nautilusd.ctl.completion import SHELLS, script
from nautilusd.ctl.local import Local
from nautilusd.ctl.session import Session

NAME = "completion"


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete for")


def main(args: argparse.Namespace, session: Session) -> int:
    from nautilusd.ctl.commands import CLI  # the registry lists this module: import at run
    from nautilusd.ctl.parser import build_parser

    session.write(script(build_parser(CLI), args.shell).rstrip("\n"))
    return EXIT_OK


COMMAND = Local(name=NAME, help="print a bash or zsh completion script", arguments=arguments,
                main=main)
