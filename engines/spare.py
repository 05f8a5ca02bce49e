"""A spare's head start: the engine-independent half of an engine's start, done before claim.

The forkserver keeps a pre-forked spare per respawn; what every engine needs whatever its
spec (logging configured, the status table mapped, the start code paths touched once so the
copy-on-write faults of a fresh fork are paid now) is done while the spare waits. A claimed
spare then only binds its identity, pins, attaches its rings and calls `on_start`. The zmq
context is deliberately not made here: its I/O thread would start before the pin and keep
running on any core.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from typing import Any

from engines.errors import EngineError
from engines.log import configure_logging
from shm import ShmError
from shm.status import StatusTable


class WarmupError(EngineError):
    """A warm-up description the forkserver cannot use; names the value and its source."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Warmup:
    """What nautilusd tells its forkserver so spares can prepare ("" = nothing to attach)."""

    status_segment: str = ""
    shm_dir: str = ""
    log_format: str = "auto"
    log_level: str = "info"
    instance: str = "default"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Warmup:
        """Parse the forkserver's warm-up argument; reject anything but known string keys."""
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise WarmupError(f"forkserver warm-up {text!r} is not JSON: {exc}") from None
        known = {f.name for f in fields(cls)}
        if not isinstance(raw, dict) or set(raw) - known or not all(
                isinstance(v, str) for v in raw.values()):
            raise WarmupError(f"forkserver warm-up {text!r}: want strings for {sorted(known)}")
        return cls(**raw)


class Prepared:
    """What a spare made before it was claimed; the runner takes the pieces it can use."""

    def __init__(self, warmup: Warmup) -> None:
        self.warmup = warmup
        self.table: StatusTable | None = None
        configure_logging(warmup.log_format, warmup.log_level, instance=warmup.instance,
                          engine="spare")
        if warmup.status_segment:
            try:
                self.table = StatusTable.attach(warmup.status_segment,
                                                directory=warmup.shm_dir or "/dev/shm")
            except (ShmError, OSError):
                self.table = None  # the runner attaches it itself and reports what fails
        _touch_start_paths()

    def take_table(self, segment: str, shm_dir: str) -> StatusTable | None:
        """The status table mapped ahead if it is the one `segment` in `shm_dir` names (the
        caller owns it from now on), else None."""
        table, self.table = self.table, None
        if table is None:
            return None
        if (segment, os.path.realpath(shm_dir)) == (self.warmup.status_segment, os.path.realpath(
                self.warmup.shm_dir or "/dev/shm")) and not table.segment.stale():
            return table
        table.close()
        return None


def _touch_start_paths() -> None:
    """Run once what every start runs (spec decoding, the engine SDK's classes), so the pages
    it writes are copied now rather than on the critical path."""
    import pickle

    from engines.runner import LaunchSpec
    from engines.spec import EngineConfig

    spec: Any = LaunchSpec(name="spare", config=EngineConfig(name="spare", entry="x:y"),
                           cpus=(), slot=0, status_segment="", shm_dir="")
    pickle.loads(pickle.dumps(spec))
