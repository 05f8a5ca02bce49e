"""The installed package's version, as `nautilusd --version` and `nautilusctl --version` show."""

from __future__ import annotations

import argparse

DISTRIBUTION = "nautilusd"


def package_version() -> str:
    """The version of the installed nautilusd distribution ("unknown" when run from a tree
    that was never installed)."""
    from importlib import metadata  # tens of ms to import: only when a version is asked for

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


def version_line(prog: str) -> str:
    """`nautilusctl 0.1.0`: what --version prints."""
    return f"{prog} {package_version()}"


class VersionAction(argparse.Action):
    """`--version`: prints version_line(prog) and exits; the version is looked up only then,
    not each time a parser is built (every start of nautilusd and nautilusctl)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str = "show the version and exit",
                 ) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        print(version_line(parser.prog))  # on stdout, as argparse's own "version" action
        parser.exit()
