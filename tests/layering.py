"""The import rules of the three layers, read from the source with `ast` (nothing is imported).

shm imports nothing of ours; engines imports only shm's public names (and itself); the client
(nautilusd.ctl) reaches neither engines nor shm, not even through what it imports; and no
module imports another package's private (`_name`) module or name.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("shm", "engines", "nautilusd")
CLIENT = "nautilusd.ctl"


@dataclass(frozen=True, slots=True)
class Import:
    """One imported module (and, for `from m import n`, the name), where it stands."""

    importer: str  # dotted module name of the importing file
    module: str  # dotted name of what is imported
    name: str | None  # `n` of `from module import n`, when n is not itself a module
    line: int
    top_level: bool  # executed at import time (not inside a function)


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    imp: Import

    def __str__(self) -> str:
        what = self.imp.module + (f".{self.imp.name}" if self.imp.name else "")
        return f"{self.imp.importer}:{self.imp.line}: {self.rule}: imports {what}"


def modules(root: Path) -> dict[str, Path]:
    """Every module of our packages under `root`, by dotted name (a package by its __init__)."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_package(root: Path, name: str) -> bool:
    return (root / name.replace(".", "/") / "__init__.py").exists()


def imports_of(root: Path, name: str, path: Path, known: set[str]) -> Iterator[Import]:
    tree = ast.parse(path.read_text(), str(path))
    package = name if _is_package(root, name) else name.rpartition(".")[0]
    functions: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            functions.update(id(n) for n in ast.walk(node) if n is not node)
    for node in ast.walk(tree):
        top = id(node) not in functions
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, None, node.lineno, top)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in known:
                    yield Import(name, sub, None, node.lineno, top)
                else:
                    yield Import(name, base, alias.name, node.lineno, top)


def _ours(module: str) -> str | None:
    head = module.split(".")[0]
    return head if head in PACKAGES else None


def _private_part(module: str, name: str | None) -> bool:
    parts = module.split(".") + ([name] if name else [])
    return any(p.startswith("_") and not p.startswith("__") for p in parts)


def _owner_of_private(module: str, name: str | None) -> str:
    """The package inside which this private module or name may be imported."""
    parts = module.split(".") + ([name] if name else [])
    for i, p in enumerate(parts):
        if p.startswith("_") and not p.startswith("__"):
            return ".".join(parts[:i])
    return module


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def check(root: Path) -> list[Violation]:
    """Every import of our packages under `root` that breaks a layer rule."""
    found = modules(root)
    known = set(found)
    all_imports = {name: list(imports_of(root, name, path, known)) for name, path in found.items()}
    problems: list[Violation] = []
    for name, imps in all_imports.items():
        layer = name.split(".")[0]
        for imp in imps:
            target = _ours(imp.module)
            if target is None:
                continue
            if layer == "shm" and target != "shm":
                problems.append(Violation("shm imports nothing of ours", imp))
            if layer == "engines" and target == "nautilusd":
                problems.append(Violation("engines imports only shm and itself", imp))
            if _inside(name, CLIENT) and target in ("engines", "shm"):
                problems.append(Violation("the client imports neither engines nor shm", imp))
            if _private_part(imp.module, imp.name) and not _inside(
                    name, _owner_of_private(imp.module, imp.name)):
                problems.append(Violation("private import from outside its package", imp))
    problems.extend(_client_reach(all_imports))
    return problems


def _client_reach(all_imports: dict[str, list[Import]]) -> Iterator[Violation]:
    """What the client loads at import time must not load engines or shm either."""
    seen: set[str] = set()
    todo = [m for m in all_imports if _inside(m, CLIENT)]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for imp in all_imports.get(module, ()):
            if not imp.top_level or _ours(imp.module) is None:
                continue
            if _ours(imp.module) in ("engines", "shm") and not _inside(module, CLIENT):
                yield Violation("the client reaches engines or shm through this import", imp)
            parents = imp.module.split(".")
            # importing a.b.c runs a, a.b and a.b.c
            todo.extend(".".join(parents[:i]) for i in range(1, len(parents) + 1))
