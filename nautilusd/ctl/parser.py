"""The nautilusctl argument parser, built from the command registry (nautilusd.ctl.commands).

Every subcommand takes the common options, before or after its own arguments.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any, Final

from nautilusd.control.commands import Remote
from nautilusd.ctl.examples import epilog
from nautilusd.ctl.local import Local
from nautilusd.version import VersionAction

# Filled in after parsing, not with set_defaults: that would rewrite the shared option
# objects' SUPPRESS default, and a subparser would then reset options given before it.
COMMON_DEFAULTS: Final[Mapping[str, Any]] = {
    "json": False, "runtime_dir": None, "instance": "default", "timeout_ms": 10_000,
    "host": None}


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: an option given before the subcommand is not reset by the subparser.
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print JSON instead of tables")
    common.add_argument("--runtime-dir", default=argparse.SUPPRESS,
                        help="runtime directory of the daemon")
    common.add_argument("--instance", default=argparse.SUPPRESS, help="instance name")
    common.add_argument("--host", default=argparse.SUPPRESS,
                        help="run the command on this [[peers]] host (CURVE control endpoint)")
    common.add_argument("--timeout-ms", type=int, default=argparse.SUPPRESS,
                        help="control request time-out")
    return common


def build_parser(commands: Mapping[str, Remote | Local]) -> argparse.ArgumentParser:
    """`nautilusctl` with one subcommand per entry of `commands`, in its order."""
    common = _common()
    parser = argparse.ArgumentParser(
        prog="nautilusctl", parents=[common], description="Drive a running nautilusd.",
        epilog="examples:\n  nautilusctl status\n  nautilusctl COMMAND --help",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=VersionAction)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in commands.items():
        command.arguments(sub.add_parser(
            name, parents=[common], help=command.help, description=_sentence(command.help),
            epilog=epilog(name), formatter_class=argparse.RawDescriptionHelpFormatter))
    return parser


def _sentence(help_text: str) -> str:
    """A subcommand's one-line help as its --help description: `Stop an engine, ... all.`"""
    return help_text[:1].upper() + help_text[1:] + "."


def parse(commands: Mapping[str, Remote | Local],
          argv: list[str] | None) -> argparse.Namespace:
    args = build_parser(commands).parse_args(argv)
    for key, value in COMMON_DEFAULTS.items():
        if not hasattr(args, key):
            setattr(args, key, value)
    return args
