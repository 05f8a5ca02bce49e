"""The model registry: versioned ONNX models in the state directory and a `current` pointer.

  <state_dir>/models/v0001/model.onnx   the graph (ONNX protobuf: no pickle anywhere)
  <state_dir>/models/v0001/meta.json    its input columns, sha256 and what it was fit on
  <state_dir>/models/current            the version in force ("1\n")

A version is built in a temporary directory and renamed into place whole, and `current` is
replaced with os.replace, so a reader never sees half a version or half a pointer. A model
whose bytes do not match the sha256 it was registered with is refused, naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from engines.errors import EngineError


class RegistryError(EngineError):
    """A missing, unknown or corrupt model version; the message names the path."""


class ModelRegistry:
    def __init__(self, state_dir: Path) -> None:
        self.root = Path(state_dir) / "models"

    def versions(self) -> list[int]:
        if not self.root.is_dir():
            return []
        return sorted(int(p.name[1:]) for p in self.root.glob("v[0-9][0-9][0-9][0-9]*")
                      if p.name[1:].isdigit() and (p / "meta.json").is_file())

    def path(self, version: int) -> Path:
        return self.root / f"v{version:04d}"

    def register(self, model: bytes, meta: dict[str, Any]) -> int:
        """Add `model` (ONNX bytes) as the next version; returns its number (not activated)."""
        self.root.mkdir(parents=True, exist_ok=True)
        version = max(self.versions(), default=0) + 1
        tmp = Path(tempfile.mkdtemp(prefix=".incoming-", dir=self.root))
        (tmp / "model.onnx").write_bytes(model)
        doc = {**meta, "version": version, "sha256": hashlib.sha256(model).hexdigest()}
        (tmp / "meta.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        os.rename(tmp, self.path(version))  # whole, or not at all
        return version

    def load(self, version: int) -> tuple[bytes, dict[str, Any]]:
        """A version's ONNX bytes and metadata, checked against its sha256."""
        where = self.path(version)
        try:
            meta = json.loads((where / "meta.json").read_text())
            model = (where / "model.onnx").read_bytes()
        except (OSError, ValueError) as exc:
            raise RegistryError(f"model version {version} at {where}: {exc}; versions: "
                                f"{self.versions()}") from None
        if hashlib.sha256(model).hexdigest() != meta.get("sha256"):
            raise RegistryError(f"{where / 'model.onnx'}: sha256 does not match meta.json")
        return model, meta

    def current(self) -> int | None:
        """The version in force, or None before any activation."""
        try:
            text = (self.root / "current").read_text().strip()
        except FileNotFoundError:
            return None
        if not text.isdigit():
            raise RegistryError(f"{self.root / 'current'}: {text!r} is not a version number")
        return int(text)

    def set_current(self, version: int) -> None:
        if version not in self.versions():
            raise RegistryError(f"model version {version} not in {self.root} "
                                f"(versions: {self.versions()})")
        tmp = self.root / f".current-{os.getpid()}"
        tmp.write_text(f"{version}\n")
        os.replace(tmp, self.root / "current")
