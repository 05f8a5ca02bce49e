"""The model registry (versions, current pointer, checksums), the ONNX linear model, research
train, and the hot swap under load: no prediction lost, none from a half-loaded model."""

from __future__ import annotations

import io
import json
import statistics
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from engines.backtest import save_ticks
from engines.backtest.cli import synthetic_ticks
from engines.models import ModelHost, ModelRegistry, RegistryError, Session, linear_model
from nautilusd.bench.models import drill
from nautilusd.ctl.main import main as nautilusctl

pytestmark = pytest.mark.timeout(120)


def _model(w: float, k: int = 3) -> bytes:
    return linear_model(np.zeros(k), np.ones(k), np.full(k, w), 0.5)


def test_linear_model_when_run_by_onnxruntime_equals_the_numpy_formula() -> None:
    """((x - mean) / scale) @ w + b, computed by the ONNX graph."""
    rng = np.random.default_rng(3)
    mean, scale, w = rng.normal(size=4), rng.uniform(0.5, 2, 4), rng.normal(size=4)
    session = Session(linear_model(mean, scale, w, 0.25), 1, 4)
    x = rng.normal(size=(16, 4)).astype(np.float32)
    np.testing.assert_allclose(session.run(x), ((x - mean) / scale) @ w + 0.25, rtol=1e-5,
                               atol=1e-5)


def test_registry_when_versions_are_registered_numbers_them_and_points_current(
        tmp_path: Path) -> None:
    """Versions 1, 2; current only moves on set_current; an unknown version is refused."""
    reg = ModelRegistry(tmp_path)
    assert reg.current() is None
    assert [reg.register(_model(w), {"columns": ["a", "b", "c"]}) for w in (1, 2)] == [1, 2]
    assert reg.current() is None
    reg.set_current(2)
    assert reg.current() == 2
    assert (tmp_path / "models" / "current").read_text() == "2\n"
    with pytest.raises(RegistryError, match="version 7"):
        reg.set_current(7)
    assert not list((tmp_path / "models").glob(".incoming-*"))


def test_registry_when_a_model_file_was_altered_refuses_it_naming_the_file(
        tmp_path: Path) -> None:
    """A model whose bytes no longer match its sha256 is never loaded."""
    reg = ModelRegistry(tmp_path)
    v = reg.register(_model(1), {"columns": ["a", "b", "c"]})
    path = reg.path(v) / "model.onnx"
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    with pytest.raises(RegistryError, match=r"v0001/model.onnx: sha256"):
        reg.load(v)


def test_host_when_no_model_is_in_force_says_how_to_get_one(tmp_path: Path) -> None:
    """predict() before any activation: an error naming the registry and the command."""
    with pytest.raises(RegistryError, match="research train"):
        ModelHost(tmp_path).predict(np.zeros((1, 3), np.float32))


def test_hot_swap_when_activations_alternate_under_load_loses_and_mixes_nothing(
        tmp_path: Path) -> None:
    """Back-to-back batches while 8 activations alternate versions 1 and 2: every input
    predicted once, in order, each batch by one whole version with that version's output,
    every activation in force at its first batch after the load."""
    doc = drill(tmp_path, swaps=8, batch=32, gap_s=0.02)
    assert doc["wrong_outputs"] == 0
    assert doc["contiguous"] and doc["predicted"] == doc["inputs"] > 0
    assert doc["versions_seen"] == [1, 2]
    assert doc["swaps"] == doc["swaps_done"] == len(doc["latencies_ms"]) == 8
    assert doc["final_version"] == 1
    assert ModelRegistry(tmp_path).current() == 1
    print(f"activation to first prediction p50 {statistics.median(doc['latencies_ms']):.1f} ms")


def test_research_train_registers_a_model_that_predicts_from_features(tmp_path: Path) -> None:
    """nautilusctl research train fits on recorded ticks, registers v1 (current with
    --activate), and the model runs on its declared input columns."""
    data = tmp_path / "t.parquet"
    save_ticks(synthetic_ticks(40_000, 2, 400.0), ("AAPL", "MSFT"), data)
    out, err = io.StringIO(), io.StringIO()
    code = nautilusctl(["research", "train", "--data", str(data), "--state-dir",
                        str(tmp_path / "state"), "--activate", "--json"], out, err)
    assert code == 0, err.getvalue()
    doc = json.loads(out.getvalue())
    assert doc["version"] == 1 and doc["rows"] > 100
    host = ModelHost(tmp_path / "state")
    assert host.version == 1
    version, y = host.predict(np.zeros((5, len(doc["columns"])), np.float32))
    assert version == 1 and y.shape == (5,) and np.isfinite(y).all()
