"""The installed package's version, as `nautilusd --version` and `nautilusctl --version` show."""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "nautilusd"


def package_version() -> str:
    """The version of the installed nautilusd distribution ("unknown" when run from a tree
    that was never installed)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


def version_line(prog: str) -> str:
    """`nautilusctl 0.1.0`: what --version prints."""
    return f"{prog} {package_version()}"
