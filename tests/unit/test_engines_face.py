"""The engine SDK's public face: every name resolves, loading stays lazy, and an engine
written against the face alone runs over real rings."""

from __future__ import annotations

import importlib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import engines
from engines import Engine, EngineContext, Harness, one_reader, one_writer, parse_params
from shm.layout import RAW64
from shm.status import W_RECORDS_IN

pytestmark = pytest.mark.timeout(30)


@dataclass(frozen=True)
class EchoParams:
    batch: int = 64


class Echo(Engine):
    """Copies its raw64 input to its raw64 output, `batch` records per poll."""

    def __init__(self, ctx: EngineContext) -> None:
        super().__init__(ctx)
        self.p = parse_params(EchoParams, ctx.params, f"engine {ctx.name}")
        self.inbox, self.outbox = one_reader(ctx, RAW64), one_writer(ctx, RAW64)

    def poll(self) -> int:
        batch = self.inbox.read(self.p.batch)
        if len(batch):
            self.outbox.write(batch)
            self.inbox.advance(len(batch))
            self.ctx.status.add(W_RECORDS_IN, len(batch))
        return len(batch)


def test_face_when_each_public_name_is_read_gives_its_home_object() -> None:
    """Every name in engines.__all__ is the object its SDK module defines."""
    assert sorted(engines.__all__) == sorted(engines._HOMES)
    for name, (module, attribute) in engines._HOMES.items():
        assert getattr(engines, name) is getattr(importlib.import_module(module), attribute)
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = engines.no_such_name  # type: ignore[attr-defined]


def test_face_when_one_sdk_module_is_imported_loads_no_sockets_or_logging() -> None:
    """Importing engines.spec (the config's types) does not pull zmq, structlog or psutil."""
    probe = ("import sys, engines.spec; "
             "print(sorted(m for m in ('zmq', 'structlog', 'psutil') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"


def test_engine_when_written_against_the_face_runs_in_the_harness(
    shm_dir: Path, runtime_dir: Path
) -> None:
    """An engine importing only `engines` names reads, writes and counts over real rings."""
    rings = {"inbox": ("raw64", "block", 64), "outbox": ("raw64", "block", 64)}
    with Harness(shm_dir, runtime_dir, rings) as h:
        echo = h.engine(f"{__name__}:Echo", "echo", ("inbox",), ("outbox",), batch=8)
        records = np.zeros(20, RAW64)
        records["data"][:, 0] = np.arange(20)
        h.writer("inbox").write(records)
        while echo.poll():
            pass
        out = h.reader("outbox", 0)
        assert out.read(64)["data"][:, 0].tolist() == list(range(20))
        assert echo.ctx.status.get(W_RECORDS_IN) == 20
        out.close()
        h.stop(echo)
