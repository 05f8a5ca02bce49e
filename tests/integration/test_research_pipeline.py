"""configs/research.toml under a real nautilusd run: marketdata -> features -> models -> the
research strategy -> risk -> execution, over the features and signals rings; orders fill,
and their side follows the model in force (a model that expects a rise buys, one that
expects a fall sells, after `nautilusctl call models models.activate`)."""

from __future__ import annotations

import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from daemon_helpers import start_daemon, stop_or_kill, wait_ready

pytest.importorskip("onnxruntime")

from engines.features import FeatureParams, Features
from engines.models import ModelRegistry, input_columns, linear_model
from nautilusd import paths
from nautilusd.config.tomlwriter import toml_document
from shm.layout import FEATURE, FILL, FILL_FILLED, FILL_PARTIAL, ORDER, SIGNAL
from shm.observer import RingObserver

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BAR_MS = 100  # research.toml's 500 ms bars, shortened: the indicators warm up in 2 s
STRATEGY_ID = 2
ENGINES = {"journal", "marketdata", "positions", "features", "models", "strategy", "risk",
           "execution"}


def _register(state_dir: Path, params: dict[str, Any]) -> None:
    """v1 predicts +10 bp whatever its inputs (a buyer), v2 -10 bp (a seller); v1 current."""
    names = input_columns(Features(1, FeatureParams(horizons=params["horizons"])).columns)
    reg = ModelRegistry(state_dir)
    for bias in (1e-3, -1e-3):
        k = len(names)
        reg.register(linear_model(np.zeros(k), np.ones(k), np.zeros(k), bias),
                     {"columns": list(names)})
    reg.set_current(1)


def _config(tmp_path: Path, shm_dir: Path, runtime_dir: Path, instance: str) -> Path:
    doc = tomllib.loads((ROOT / "configs" / "research.toml").read_text())
    doc["supervisor"].update(instance=instance, shm_dir=str(shm_dir),
                             runtime_dir=str(runtime_dir / "rt"),
                             state_dir=str(tmp_path / "state"), metrics_address="",
                             log_format="json", log_level="warning")
    for name in ("features", "models"):
        doc["engines"][name]["params"]["bar_ms"] = BAR_MS
    (tmp_path / "state").mkdir(mode=0o700)
    _register(tmp_path / "state", doc["engines"]["models"]["params"])
    path = tmp_path / "research.toml"
    path.write_text(toml_document(doc))
    return path


@pytest.fixture
def daemon(tmp_path: Path, shm_dir: Path, runtime_dir: Path) -> Iterator[tuple[Path, str]]:
    instance = f"rs{uuid.uuid4().hex[:6]}"
    proc = start_daemon(_config(tmp_path, shm_dir, runtime_dir, instance), runtime_dir)
    try:
        wait_ready(shm_dir, ENGINES, proc, instance=instance, timeout_s=90)
        yield runtime_dir / "rt", instance
    finally:
        assert stop_or_kill(proc) == 0


def _records(shm_dir: Path, instance: str, ring: str, dtype: np.dtype[Any]) -> np.ndarray:
    """Every record the ring still holds, copied from outside (no reader slot taken)."""
    with RingObserver.attach(paths.ring_segment(instance, ring), dtype, shm_dir) as obs:
        _, records = obs.history(max(obs.published() - obs.capacity, 0))
        return records.copy()


def _wait(cond: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := cond()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return value


def _fill_sides(shm_dir: Path, instance: str) -> list[int]:
    """The side of each execution of the research strategy's orders, in ring order."""
    fills = _records(shm_dir, instance, "fills", FILL)
    mine = fills[(fills["strategy_id"] == STRATEGY_ID)
                 & np.isin(fills["status"], [FILL_PARTIAL, FILL_FILLED]) & (fills["qty"] > 0)]
    return mine["side"].tolist()


def test_research_strategy_when_the_model_changes_sign_its_orders_fill_on_the_new_side(
        daemon: tuple[Path, str], shm_dir: Path) -> None:
    """With v1 in force every fill of strategy 2 is a buy; after activating v2 the fills
    turn to sells and stay sells: the sides are one run of buys then one run of sells. The
    features and signals rings carry the records the decisions came from."""
    rt, instance = daemon
    buys = _wait(lambda: (s := _fill_sides(shm_dir, instance)) and len(s) >= 5 and s, 60,
                 "the research strategy's buys filled")
    assert set(buys) == {1}, buys
    done = subprocess.run([str(BIN / "nautilusctl"), "call", "models", "models.activate",
                           "version=2", "--runtime-dir", str(rt)], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    sides = _wait(lambda: (s := _fill_sides(shm_dir, instance)) and s.count(-1) >= 5 and s,
                  60, "the research strategy's sells filled after the swap")
    first_sell = sides.index(-1)
    assert set(sides[:first_sell]) == {1} and set(sides[first_sell:]) == {-1}, sides
    signals = _records(shm_dir, instance, "signals", SIGNAL)
    versions = signals["model_version"].tolist()
    assert set(versions) == {1, 2} and versions == sorted(versions)
    known = np.isfinite(signals["prediction"])  # NaN while the indicators warm up
    assert np.allclose(signals["prediction"][known & (signals["model_version"] == 1)], 1e-3)
    assert np.allclose(signals["prediction"][known & (signals["model_version"] == 2)], -1e-3)
    features = _records(shm_dir, instance, "features", FEATURE)
    assert features.shape[0] > 0 and (features["bar_ns"] % (BAR_MS * 1_000_000) == 0).all()
    assert np.isfinite(features["momentum"]).any() and (features["close"] > 0).all()
    orders = _records(shm_dir, instance, "orders", ORDER)
    assert (orders["strategy_id"] == STRATEGY_ID).all()
    # each order names the tick that closed its bar, as its signal did
    assert set(orders["origin_seq"].tolist()) <= set(signals["origin_seq"].tolist())
