"""`nautilusctl bench models`: model hot swap under load, activation to first prediction.

Two registered versions with different weights; a predicting loop runs batches of
numbered inputs back to back while another thread asks for activations alternately. Per
activation: the time from the request to the first batch predicted by the new version
(target p50 <= 100 ms). Checked on every batch: each input predicted exactly once, by one
whole version, with that version's own output (no loss, no half-loaded model); a check
that fails fails the suite.

  nautilusctl bench models [--quick] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from engines.models import ModelHost, ModelRegistry, linear_model
from nautilusd.bench.report import emit, percentiles

TARGET_P50_MS = 100.0
N_INPUTS = 8


def register_pair(state_dir: Path) -> dict[int, np.ndarray]:
    """Versions 1 and 2 (weights all 1, all -2); version 1 current. version -> weights."""
    reg = ModelRegistry(state_dir)
    weights = {}
    for w in (1.0, -2.0):
        ws = np.full(N_INPUTS, w)
        v = reg.register(linear_model(np.zeros(N_INPUTS), np.ones(N_INPUTS), ws, 0.0),
                         {"columns": [f"x{i}" for i in range(N_INPUTS)]})
        weights[v] = ws
    reg.set_current(1)
    return weights


def drill(state_dir: Path, swaps: int, batch: int = 64, gap_s: float = 0.05) -> dict[str, Any]:
    """Predict while `swaps` activations alternate the version; what happened, checked."""
    weights = register_pair(state_dir)
    host = ModelHost(state_dir)
    asked: list[tuple[int, int]] = []  # (version, monotonic ns of the request)
    done = threading.Event()

    def operator() -> None:
        for i in range(swaps):
            time.sleep(gap_s)  # the operator's pace between activations
            version = 2 if i % 2 == 0 else 1
            asked.append((version, time.monotonic_ns()))
            host.activate(version)
            while host.version != version and not done.is_set():
                time.sleep(0.001)
        done.set()

    thread = threading.Thread(target=operator, name="operator")
    thread.start()
    seq, log, wrong = 0, [], 0
    base = np.arange(N_INPUTS, dtype=np.float32)[None, :] * 1e-3
    deadline = time.monotonic() + 60
    while not done.is_set() and time.monotonic() < deadline:
        ids = np.arange(seq, seq + batch, dtype=np.float32)[:, None]
        x = base + ids
        version, y = host.predict(x)
        expect = (x.astype(np.float64) @ weights[version]).astype(np.float32)
        wrong += int((~np.isclose(y, expect, rtol=1e-5, atol=1e-3)).sum())
        log.append((seq, batch, version, time.monotonic_ns()))
        seq += batch
    done.set()
    thread.join()
    latencies = []
    for version, at in asked:
        first = next((t for _, _, v, t in log if v == version and t >= at), None)
        if first is not None:
            latencies.append((first - at) / 1e6)
    covered = sum(n for _, n, _, _ in log)
    contiguous = all(a[0] + a[1] == b[0] for a, b in itertools.pairwise(log))
    return {"swaps": len(asked), "latencies_ms": latencies, "batches": len(log),
            "predicted": covered, "inputs": seq, "contiguous": contiguous,
            "wrong_outputs": wrong, "versions_seen": sorted({v for _, _, v, _ in log}),
            "final_version": host.version, "swaps_done": host.swaps}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="nautilusctl bench models", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="nd-bench-models-", dir="/tmp"))
    try:
        doc = drill(work, 20 if args.quick else 100)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lat = percentiles(doc["latencies_ms"])
    ok = (doc["wrong_outputs"] == 0 and doc["contiguous"] and doc["predicted"] == doc["inputs"]
          and len(doc["latencies_ms"]) == doc["swaps"])
    results = [{"measure": "hot swap", **{k: v for k, v in doc.items() if k != "latencies_ms"},
                **{f"activation_{k}_ms" if k != "n" else "n": v for k, v in lat.items()}}]
    if not ok:
        results.append({"measure": "error", "transport": "models",
                        "error": "a prediction was lost, wrong, or an activation never took"})
    summary = {"activation_to_first_prediction_p50_ms": lat["p50"],
               "activation_to_first_prediction_p99_ms": lat["p99"],
               "target_p50_ms": TARGET_P50_MS,
               "within_target": bool(lat["p50"] <= TARGET_P50_MS)}
    return emit("models", results, summary, args.json)


if __name__ == "__main__":
    sys.exit(main())
