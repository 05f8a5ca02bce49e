"""The layer rules hold on this tree, and the checker catches each kind of planted violation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from layering import check

ROOT = Path(__file__).resolve().parents[2]


def test_tree_when_checked_has_no_layer_violation() -> None:
    """shm imports nothing of ours, engines only shm's public names, the client neither."""
    problems = check(ROOT)
    assert problems == [], "\n".join(map(str, problems))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the three packages' sources to plant violations in."""
    for package in ("shm", "engines", "nautilusd"):
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("*.so", "__pycache__", "*.c"))
    return tmp_path


def _plant(tree: Path, relative: str, line: str) -> None:
    path = tree / relative
    path.write_text(path.read_text() + f"\n{line}\n")


PLANTS = [
    ("shm/ring.py", "import engines.base", "shm imports nothing of ours"),
    ("shm/segment.py", "from nautilusd import paths", "shm imports nothing of ours"),
    ("engines/base.py", "from nautilusd.config.model import Topology",
     "engines imports only shm and itself"),
    ("engines/bus.py", "from shm._control import Policy", "private import"),
    ("nautilusd/ringset.py", "from shm.ring import _BlockWriter", "private import"),
    ("nautilusd/ctl/session.py", "import shm", "the client imports neither"),
    ("nautilusd/ctl/commands/call.py",
     "def later():\n    from engines.service import service_endpoint\n    return service_endpoint",
     "the client imports neither"),
    ("nautilusd/paths.py", "import shm.status", "the client reaches"),
    ("nautilusd/metrics/server.py", "from nautilusd.config import _convert", "private import"),
]


@pytest.mark.parametrize(("relative", "line", "rule"), PLANTS,
                         ids=[f"{p[0]}:{p[2][:24]}" for p in PLANTS])
def test_check_when_a_violation_is_planted_names_it(tree: Path, relative: str, line: str,
                                                     rule: str) -> None:
    """Each planted import is reported under its rule, with the importing module named."""
    before = {str(p) for p in check(tree)}
    _plant(tree, relative, line)
    problems = [str(p) for p in check(tree) if str(p) not in before]
    importer = relative.removesuffix(".py").replace("/", ".")
    assert any(rule in p and p.startswith(importer) for p in problems), problems
