"""`nautilusctl research train`: fit a linear model of the next bar's return and register it.

  python -m engines.models.train --data TICKS.parquet --state-dir DIR [--config F.toml]
      [--ridge L] [--activate] [--json]

The features engine's indicators over the recorded ticks give one row per symbol and bar;
the target is that symbol's return over the next bar. Ridge regression on standardised
inputs (numpy), written as an ONNX graph (engines.models._onnx) into DIR/models/vNNNN.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from engines.backtest import TickFile, load
from engines.features import Features
from engines.models._inputs import input_columns, model_inputs
from engines.models._onnx import linear_model
from engines.models._registry import ModelRegistry


def training_set(ticks: np.ndarray, features: Features) -> tuple[np.ndarray, np.ndarray]:
    """(X, y): inputs at each bar close and the same symbol's next-bar return."""
    bars = features.update(ticks)
    last = features.flush()
    bars.extend([last] if last is not None else [])
    rows: dict[int, list[np.ndarray]] = {}
    for bar in bars:
        for s, v in zip(bar.symbol_ids.tolist(), bar.values, strict=True):
            rows.setdefault(s, []).append(v)
    xs, ys = [], []
    ret1 = features.columns.index(f"ret_{features.horizons[0]}")
    for series in rows.values():
        table = np.array(series)
        if table.shape[0] < 3:
            continue
        x = model_inputs(table[:-1], features.columns)
        y = table[1:, ret1]
        ok = np.isfinite(x).all(axis=1) & np.isfinite(y)
        xs.append(x[ok])
        ys.append(y[ok])
    if not xs:
        return np.zeros((0, len(input_columns(features.columns))), np.float32), np.zeros(0)
    return np.concatenate(xs), np.concatenate(ys)


def fit(x: np.ndarray, y: np.ndarray, ridge: float) -> tuple[np.ndarray, ...]:
    """Ridge regression on standardised inputs: (mean, scale, weights, bias)."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    bias = float(y.mean())
    w = np.linalg.solve(z.T @ z + ridge * np.eye(z.shape[1]), z.T @ (y - bias))
    return mean, scale, w, np.array(bias)


def train(data: Path, state_dir: Path, config: Path | None, ridge: float) -> dict[str, Any]:
    tick_file = TickFile(data)
    cfg = load(config, tick_file.symbols, [])
    ticks = tick_file.ticks(cfg.symbols)
    features = Features(len(cfg.symbols), cfg.features)
    x, y = training_set(ticks, features)
    if x.shape[0] < x.shape[1] + 1:
        raise SystemExit(f"research train: {data} gives {x.shape[0]} training rows, fewer "
                         f"than the {x.shape[1] + 1} a fit of {x.shape[1]} inputs needs")
    mean, scale, w, bias = fit(x.astype(np.float64), y, ridge)
    columns = input_columns(features.columns)
    model = linear_model(mean, scale, w, float(bias), doc=f"ridge {ridge} on {data.name}")
    fitted = ((x - mean) / scale) @ w + bias
    r2 = 1.0 - float(((y - fitted) ** 2).sum() / max(((y - y.mean()) ** 2).sum(), 1e-300))
    meta = {"columns": list(columns), "kind": "ridge", "ridge": ridge, "data": str(data),
            "rows": int(x.shape[0]), "r2_in_sample": r2,
            "features": {f: getattr(cfg.features, f) for f in cfg.features.__slots__}}
    version = ModelRegistry(state_dir).register(model, meta)
    return {"version": version, **meta}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="nautilusctl research train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument("--config", type=Path)
    p.add_argument("--ridge", type=float, default=1.0)
    p.add_argument("--activate", action="store_true", help="also make it the current version")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if not args.data.is_file():
        print(f"research train: --data {args.data}: no such file", file=sys.stderr)
        return 2
    doc = train(args.data, args.state_dir, args.config, args.ridge)
    if args.activate:
        ModelRegistry(args.state_dir).set_current(doc["version"])
    if args.json:
        print(json.dumps(doc, sort_keys=True))
    else:
        print(f"registered model version {doc['version']} ({doc['rows']} rows, in-sample "
              f"R2 {doc['r2_in_sample']:.4f}) in {args.state_dir / 'models'}"
              + (", current" if args.activate else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
