"""nautilusd.codeversion: the version names the module files as loaded, and changes with them."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nautilusd.codeversion import code_version, entry_module, files_hash

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def package(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    name = f"cv_pkg_{tmp_path.name.replace('-', '_')}"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("from . import kernel\n")
    (root / "kernel.py").write_text("LIMIT = 1\n")
    sys.path.insert(0, str(tmp_path))
    try:
        yield root, name
    finally:
        sys.path.remove(str(tmp_path))
        for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[module]


def test_files_hash_when_a_loaded_submodule_changes_changes(package: tuple[Path, str]) -> None:
    """Editing a submodule the package loaded gives another hash; the same bytes the same."""
    root, name = package
    importlib.import_module(name)
    before = files_hash(name)
    assert files_hash(name) == before
    (root / "kernel.py").write_text("LIMIT = 2\n")
    assert files_hash(name) != before


def test_files_hash_when_not_imported_hashes_the_file_an_import_would_read(
        package: tuple[Path, str]) -> None:
    """A module not imported yet is found on sys.path; a missing one still gets a hash."""
    _, name = package
    assert files_hash(name) != files_hash(f"{name}_missing")


def test_code_version_when_given_a_module_is_distribution_plus_hash() -> None:
    """`<version>+<12 hex digits>`; the entry's module part is what is hashed."""
    version = code_version("nautilusd")
    head, _, digest = version.partition("+")
    assert head and len(digest) == 12 and int(digest, 16) >= 0
    assert entry_module("engines.risk:RiskEngine") == "engines.risk"
    assert entry_module(None) is None
