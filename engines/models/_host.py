"""The model in force and its hot swap: a new version loads beside the old one, then takes over.

`activate(version)` starts building the new version's Session on a loader thread and returns
at once; the predicting loop keeps using the old session and calls `swap_if_ready()` before
each batch, which puts the new one in force (one reference assignment) once it is whole and
warmed up. So no batch waits for a load, none is lost, and every prediction comes from one
whole version, tagged with it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from engines.models._onnx import Session
from engines.models._registry import ModelRegistry, RegistryError


class ModelHost:
    def __init__(self, state_dir: Path) -> None:
        self.registry = ModelRegistry(state_dir)
        self.session: Session | None = None
        self.columns: tuple[str, ...] = ()
        self._loading: threading.Thread | None = None
        self._loaded: tuple[Session, tuple[str, ...], int] | None = None
        self._error: str | None = None
        self._lock = threading.Lock()
        self.activated_ns = 0  # when the version in force was asked for
        self.swaps = 0
        current = self.registry.current()
        if current is not None:
            self.session, self.columns = self._build(current)

    def _build(self, version: int) -> tuple[Session, tuple[str, ...]]:
        model, meta = self.registry.load(version)
        columns = tuple(meta["columns"])
        return Session(model, version, len(columns)), columns

    @property
    def version(self) -> int | None:
        return None if self.session is None else self.session.version

    def activate(self, version: int) -> dict[str, Any]:
        """Start loading `version` (checked now: an unknown one is an error naming it)."""
        if version not in self.registry.versions():
            raise RegistryError(f"model version {version} not in {self.registry.root} "
                                f"(versions: {self.registry.versions()})")
        asked_ns = time.monotonic_ns()

        def load() -> None:
            try:
                session, columns = self._build(version)
            except Exception as exc:  # reported by status and the next activate
                with self._lock:
                    self._error = f"version {version}: {exc}"
                return
            with self._lock:
                self._loaded = (session, columns, asked_ns)

        if self._loading is not None:
            self._loading.join()  # one load at a time: the last request wins
        self._error = None
        self._loading = threading.Thread(target=load, name=f"model-v{version}", daemon=True)
        self._loading.start()
        return {"loading": version, "in_force": self.version}

    def swap_if_ready(self) -> bool:
        """Put a fully loaded new version in force; True when it did."""
        if self._loaded is None:
            return False
        with self._lock:
            loaded, self._loaded = self._loaded, None
        if loaded is None:
            return False
        session, columns, asked_ns = loaded
        self.session, self.columns, self.activated_ns = session, columns, asked_ns
        self.registry.set_current(session.version)
        self.swaps += 1
        return True

    def predict(self, features: np.ndarray) -> tuple[int, np.ndarray]:
        """(version, predictions) for a float32 batch, from the version in force."""
        self.swap_if_ready()
        session = self.session
        if session is None:
            raise RegistryError(f"no model in force in {self.registry.root}: register one "
                                "(nautilusctl research train) and activate it")
        return session.version, session.run(features)

    def wait_loaded(self, timeout_s: float) -> None:
        """Block until a pending load has finished (tests, the train command)."""
        if self._loading is not None:
            self._loading.join(timeout_s)

    def status(self) -> dict[str, Any]:
        return {"version": self.version, "columns": list(self.columns),
                "versions": self.registry.versions(), "swaps": self.swaps,
                "loading": self._loading is not None and self._loading.is_alive(),
                "error": self._error}
