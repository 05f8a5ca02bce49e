"""A backtest's config: the engines' params from a topology file, plus sweep overrides.

The strategy, risk, execution and features tables are found by their entry points
(engines.strategy:..., engines.risk:..., ...), so a backtest runs the params a live topology
runs. Overrides are `section.key=value` with section strategy, risk, execution, features or
backtest (batch); each value is checked by the engine's own params spec.
"""

from __future__ import annotations

import dataclasses
import itertools
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engines.backtest._pipeline import BacktestConfig
from engines.execution import ExecutionParams, VenueParams
from engines.features import FeatureParams
from engines.params import ParamError, parse_params
from engines.risk import RiskLimits, RiskParams
from engines.strategy import SignalParams, StrategyParams

# section -> (entry prefix, the engine's params spec, the part the pipeline runs)
SECTIONS: dict[str, tuple[str, type[Any], type[Any]]] = {
    "strategy": ("engines.strategy:", StrategyParams, SignalParams),
    "risk": ("engines.risk:", RiskParams, RiskLimits),
    "execution": ("engines.execution:", ExecutionParams, VenueParams),
    "features": ("engines.features:", FeatureParams, FeatureParams),
}
Override = tuple[str, str, Any]  # section, key, value


def parse_value(text: str) -> Any:
    """A TOML scalar ('2', '0.5', 'true', '"x"'), or the text itself as a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_sweep(specs: list[str]) -> list[list[Override]]:
    """['strategy.alpha=0.1,0.2', 'risk.max_order_qty=50,100'] -> the grid (every
    combination), each a list of overrides; a malformed spec is an error naming it."""
    axes = []
    for spec in specs:
        key, sep, values = spec.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot or not values or section not in (*SECTIONS, "backtest"):
            raise ParamError(f"--sweep {spec!r}: expected SECTION.KEY=V1,V2,... with SECTION "
                             f"one of {', '.join((*SECTIONS, 'backtest'))}")
        axes.append([(section, name, parse_value(v)) for v in values.split(",")])
    return [list(combo) for combo in itertools.product(*axes)] if axes else [[]]


def load(path: Path | None, symbols: tuple[str, ...], overrides: list[Override],
         ) -> BacktestConfig:
    """The BacktestConfig of a topology file (None: every default) with `overrides`."""
    doc = tomllib.loads(path.read_text()) if path is not None else {}
    symbols = tuple(doc.get("symbols", ())) or symbols
    tables = {section: dict(_engine_params(doc, prefix))
              for section, (prefix, _, _) in SECTIONS.items()}
    batch = 4_096
    for section, key, value in overrides:
        if section == "backtest":
            if key != "batch" or not isinstance(value, int) or value < 1:
                raise ParamError(f"backtest.{key}={value!r}: only batch (a positive int)")
            batch = value
        else:
            tables[section][key] = value
    parts = {}
    for section, (_, spec, part) in SECTIONS.items():
        where = f"{path or 'defaults'}: {section} params"
        full = parse_params(spec, tables[section], where)
        parts[section] = part(**{f.name: getattr(full, f.name) for f in dataclasses.fields(part)})
    return BacktestConfig(symbols=symbols, signal=parts["strategy"], limits=parts["risk"],
                          venue=parts["execution"], features=parts["features"], batch=batch)


def _engine_params(doc: Mapping[str, Any], prefix: str) -> Mapping[str, Any]:
    for table in doc.get("engines", {}).values():
        if str(table.get("entry", "")).startswith(prefix):
            params: Mapping[str, Any] = table.get("params", {})
            return params
    return {}


def describe(cfg: BacktestConfig) -> dict[str, Any]:
    """The config as plain data, for the summary and the report."""
    return {"symbols": list(cfg.symbols), "batch": cfg.batch,
            **{section: dataclasses.asdict(getattr(cfg, attr)) for section, attr in
               (("strategy", "signal"), ("risk", "limits"), ("execution", "venue"),
                ("features", "features"))}}
