"""The features and models engines in a real daemon: ticks from marketdata, features,
factors and signals on the bus at each bar close, and `nautilusctl call models
models.activate version=2` swapping the model in force without a restart (same pid), its
version in status."""

from __future__ import annotations

import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import start_daemon, status_rows, stop_or_kill, wait_ready

pytest.importorskip("onnxruntime")

from engines.bus import Subscriber
from engines.service import ServiceClient, service_endpoint
from nautilusd import paths
from nautilusd.bench.models import register_pair
from nautilusd.config.tomlwriter import toml_document

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _config(tmp_path: Path, shm_dir: Path, runtime_dir: Path, instance: str) -> Path:
    doc = tomllib.loads((ROOT / "configs" / "default.toml").read_text())
    engines = {"marketdata": doc["engines"]["marketdata"]}
    engines["marketdata"]["params"] = {"source": "gbm", "rate_per_s": 2_000.0, "bars": False}
    engines["marketdata"]["group"] = "research"
    engines["models"] = {"entry": "engines.models:ModelsEngine", "group": "research",
                         "wait": "blocking", "cpus": [0],
                         "params": {"bar_ms": 50, "vol_window": 2, "horizons": "1,2,3",  # 8 inputs
                                    "vwap_window": 2}}
    engines["features"] = {"entry": "engines.features:FeaturesEngine", "group": "research",
                           "wait": "blocking", "cpus": [1],
                           "params": {"bar_ms": 50, "vol_window": 2, "horizons": "1,2,3"}}
    doc = {"symbols": doc["symbols"],
           "supervisor": {"instance": instance, "shm_dir": str(shm_dir),
                          "runtime_dir": str(runtime_dir / "rt"),
                          "state_dir": str(tmp_path / "state"), "metrics_address": "",
                          "log_format": "json", "log_level": "warning"},
           "groups": {"research": {"strategy": "one_for_one"}},
           "engines": engines,
           "rings": {"ticks": {"record": "tick", "capacity": 16384, "policy": "overwrite",
                               "writer": "marketdata",
                               "readers": ["models", "features"]}}}
    path = tmp_path / "models.toml"
    path.write_text(toml_document(doc))
    return path


@pytest.fixture
def daemon(tmp_path: Path, shm_dir: Path, runtime_dir: Path) -> Iterator[tuple[Any, Path, str]]:
    instance = f"md{uuid.uuid4().hex[:6]}"
    (tmp_path / "state").mkdir(mode=0o700)
    register_pair(tmp_path / "state")  # v1 current, v2 registered
    proc = start_daemon(_config(tmp_path, shm_dir, runtime_dir, instance), runtime_dir)
    try:
        wait_ready(shm_dir, {"marketdata", "models", "features"}, proc, instance=instance,
                   timeout_s=60)
        yield proc, runtime_dir / "rt", instance
    finally:
        assert stop_or_kill(proc) == 0


def _wait(cond: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := cond()):
        assert time.monotonic() < deadline, what
        time.sleep(0.05)
    return value


def _messages(rt: Path, prefixes: tuple[str, ...], want: set[str], timeout_s: float
              ) -> dict[str, Any]:
    """The first message of each topic prefix in `want`, read from the daemon's bus."""
    got: dict[str, Any] = {}
    sub = Subscriber(paths.bus_sub_endpoint(rt), prefixes)
    try:
        deadline = time.monotonic() + timeout_s
        while set(got) != want and time.monotonic() < deadline:
            msg = sub.recv(200)
            if msg is not None:
                key = next(p for p in prefixes if msg[0].startswith(p))
                got.setdefault(key, msg)
    finally:
        sub.close()
    return got


def test_features_and_models_engines_publish_at_bar_close(
        daemon: tuple[Any, Path, str]) -> None:
    """research.features.<symbol> (every column), research.factors (one value per symbol
    and factor) and research.signals.<symbol> tagged with the version in force."""
    _, rt, _ = daemon
    prefixes = ("research.features.", "research.factors", "research.signals.")
    got = _messages(rt, prefixes, set(prefixes), 30)
    assert set(got) == set(prefixes), sorted(got)
    topic, doc = got["research.features."]
    assert topic.rsplit(".", 1)[1] in ("AAPL", "MSFT", "ESZ6", "EURUSD")
    assert set(doc["values"]) == {"close", "ema", "vol", "rsi", "vwap", "ofi", "ret_1",
                                  "ret_2", "ret_3"}
    assert doc["values"]["close"] > 0 and doc["bar_ns"] % 50_000_000 == 0
    factors = got["research.factors"][1]
    assert factors["symbols"] == ["AAPL", "MSFT", "ESZ6", "EURUSD"]
    assert all(len(factors[f]) == 4 for f in ("momentum", "mean_reversion", "vol_rank"))
    assert got["research.signals."][1]["version"] == 1


def test_models_engine_when_activated_by_nautilusctl_swaps_without_a_restart(
        daemon: tuple[Any, Path, str], tmp_path: Path, shm_dir: Path) -> None:
    """Version 1 predicts; `nautilusctl call models models.activate version=2` puts version
    2 in force in the same process; predictions go on, the pointer file says 2."""
    _, rt, instance = daemon
    pid = status_rows(shm_dir, instance)["models"]["pid"]
    with ServiceClient(service_endpoint(rt, "models"), timeout_ms=5_000) as models:
        first = _wait(lambda: (s := models.call("models.status"))["predictions"] > 0 and s,
                      30, "version 1 predicted")
        assert first["version"] == 1
        done = subprocess.run([str(BIN / "nautilusctl"), "call", "models", "models.activate",
                               "version=2", "--runtime-dir", str(rt)], capture_output=True,
                              text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        after = _wait(lambda: (s := models.call("models.status"))["version"] == 2 and s, 10,
                      "version 2 in force")
        _wait(lambda: models.call("models.status")["predictions"] > after["predictions"], 10,
              "version 2 predicted")
        bad = subprocess.run([str(BIN / "nautilusctl"), "call", "models", "models.activate",
                              "version=9", "--runtime-dir", str(rt)], capture_output=True,
                             text=True, timeout=30)
        assert bad.returncode != 0 and "version 9" in bad.stderr + bad.stdout
        assert models.call("models.status")["version"] == 2
    assert status_rows(shm_dir, instance)["models"]["pid"] == pid
    assert (tmp_path / "state" / "models" / "current").read_text() == "2\n"
