"""Code versions: the installed distribution's version plus a hash of the module files loaded.

`0.1.0+1a2b3c4d5e6f` names code as a process loaded it: the forkserver hashes an engine's
modules when it imports them (a later edit on disk changes nothing until a new generation
imports it again), nautilusd hashes its own. Standard library only: the forkserver uses it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import sys
from importlib import metadata
from pathlib import Path

HASH_CHARS = 12
UNKNOWN = "unknown"
# Top-level packages of nautilusd's own distribution (pyproject.toml's packages.find): their
# version needs no scan of every installed distribution (packages_distributions() costs
# 60-250 ms, paid by every start, a re-execution's included, and every forkserver).
OWN_PACKAGES = {"nautilusd": "nautilusd", "engines": "nautilusd", "shm": "nautilusd"}


@functools.lru_cache(maxsize=64)
def distribution_version(top_package: str) -> str:
    """The version of the installed distribution that provides `top_package`."""
    try:
        own = OWN_PACKAGES.get(top_package)
        names = [own] if own else (metadata.packages_distributions().get(top_package)
                                   or ["nautilusd"])
        return metadata.version(names[0])
    except metadata.PackageNotFoundError:
        return UNKNOWN


def _files_of(package: str) -> list[tuple[str, Path]]:
    """(module name, source file) of `package` and every loaded module under it; when it is
    not loaded (yet), the file an import would read."""
    found = {name: Path(file) for name, module in list(sys.modules.items())
             if (name == package or name.startswith(package + "."))
             and (file := getattr(module, "__file__", None))}
    if package not in found:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin and spec.has_location:
            found[package] = Path(spec.origin)
    return sorted(found.items())


def files_hash(package: str) -> str:
    """A short sha256 over the names and bytes of `package`'s module files (`_files_of`)."""
    digest = hashlib.sha256()
    for name, path in _files_of(package):
        digest.update(name.encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
        digest.update(b"\0")
    return digest.hexdigest()[:HASH_CHARS]


def code_version(module: str) -> str:
    """`<distribution version>+<files hash>` of the package (or module) `module`."""
    return f"{distribution_version(module.partition('.')[0])}+{files_hash(module)}"


def entry_module(entry: str | None) -> str | None:
    """The module part of an engine entry ("engines.risk:RiskEngine" -> "engines.risk")."""
    return entry.partition(":")[0] or None if entry else None
