"""A backtest's config: the engines' params from a topology file, plus sweep overrides.

The strategy, risk, execution and features tables are found by their entry points
(engines.strategy:..., engines.risk:..., ...), so a backtest runs the params a live topology
runs. The strategy is the topology's: the research strategy (engines.strategy:
ResearchStrategyEngine) when it has one, else the shipped mean reversion; `backtest.strategy`
(research or mean_reversion) picks one. Overrides are `section.key=value` with section
strategy, risk, execution, features or backtest (batch, strategy); each value is checked by
the engine's own params spec.
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
from engines.models import ModelsParams
from engines.params import ParamError, parse_params
from engines.risk import RiskLimits, RiskParams
from engines.strategy import BlendParams, ResearchStrategyParams, SignalParams, StrategyParams

# section -> (entry prefix, the engine's params spec, the part the pipeline runs)
SECTIONS: dict[str, tuple[str, type[Any], type[Any]]] = {
    "strategy": ("engines.strategy:StrategyEngine", StrategyParams, SignalParams),
    "risk": ("engines.risk:", RiskParams, RiskLimits),
    "execution": ("engines.execution:", ExecutionParams, VenueParams),
    "features": ("engines.features:", FeatureParams, FeatureParams),
}
RESEARCH: tuple[str, type[Any], type[Any]] = (
    "engines.strategy:ResearchStrategyEngine", ResearchStrategyParams, BlendParams)
STRATEGIES = ("mean_reversion", "research")
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
    run: dict[str, Any] = {"batch": 4_096, "models": None,
                           "strategy": "research" if _has_engine(doc, RESEARCH[0])
                           else "mean_reversion"}
    for section, key, value in overrides:
        if section == "backtest":
            _backtest_key(key, value, run)
    strategy = run["strategy"]
    if run["models"] is not None and strategy != "research":
        raise ParamError(f"backtest.models={run['models']!r}: only the research strategy "
                         "reads signals (backtest.strategy=research)")
    sections = {**SECTIONS, "strategy": RESEARCH} if strategy == "research" else SECTIONS
    tables = {section: dict(_engine_params(doc, prefix))
              for section, (prefix, _, _) in sections.items()}
    for section, key, value in overrides:
        if section != "backtest":
            tables[section][key] = value
    parts = {}
    for section, (_, spec, part) in sections.items():
        where = f"{path or 'defaults'}: {section} params"
        full = parse_params(spec, tables[section], where)
        parts[section] = part(**{f.name: getattr(full, f.name) for f in dataclasses.fields(part)})
    research = parts.pop("strategy") if strategy == "research" else None
    signal = parts.pop("strategy", SignalParams())
    if run["models"] is not None:
        _same_bars(doc, parts["features"], path)
    return BacktestConfig(symbols=symbols, signal=signal, research=research,
                          limits=parts["risk"], venue=parts["execution"],
                          features=parts["features"], batch=run["batch"],
                          models_dir=None if run["models"] is None else Path(run["models"]))


def _backtest_key(key: str, value: Any, run: dict[str, Any]) -> None:
    """backtest.batch (a positive int), backtest.strategy (research, mean_reversion) or
    backtest.models (a state dir whose model in force predicts at each bar close)."""
    if key == "batch" and isinstance(value, int) and not isinstance(value, bool) and value > 0:
        run["batch"] = value
    elif key == "strategy" and value in STRATEGIES:
        run["strategy"] = value
    elif key == "models" and isinstance(value, str) and value:
        run["models"] = value
    else:
        raise ParamError(f"backtest.{key}={value!r}: only batch (a positive int), strategy "
                         f"(one of {', '.join(STRATEGIES)}) or models (a state dir)")


def _same_bars(doc: Mapping[str, Any], features: FeatureParams, path: Path | None) -> None:
    """The backtest computes one set of features for the strategy and the model: a models
    engine of the topology must cut the features engine's bars with its windows."""
    table = _engine_params(doc, "engines.models:")
    if not table:
        return
    spec = parse_params(ModelsParams, table, f"{path}: models params")
    theirs = {f.name: getattr(spec, f.name) for f in dataclasses.fields(FeatureParams)}
    ours = dataclasses.asdict(features)
    if theirs != ours:
        differ = sorted(k for k in ours if ours[k] != theirs[k])
        raise ParamError(f"{path}: the models engine's feature params differ from the "
                         f"features engine's ({', '.join(differ)}): a backtest with "
                         "backtest.models needs them equal")


def _has_engine(doc: Mapping[str, Any], entry: str) -> bool:
    return any(str(t.get("entry", "")).startswith(entry) for t in doc.get("engines", {}).values())


def _engine_params(doc: Mapping[str, Any], prefix: str) -> Mapping[str, Any]:
    for table in doc.get("engines", {}).values():
        if str(table.get("entry", "")).startswith(prefix):
            params: Mapping[str, Any] = table.get("params", {})
            return params
    return {}


def describe(cfg: BacktestConfig) -> dict[str, Any]:
    """The config as plain data, for the summary and the report."""
    strategy = cfg.signal if cfg.research is None else cfg.research
    return {"symbols": list(cfg.symbols), "batch": cfg.batch,
            "strategy_kind": "mean_reversion" if cfg.research is None else "research",
            "strategy": dataclasses.asdict(strategy),
            **{section: dataclasses.asdict(getattr(cfg, attr)) for section, attr in
               (("risk", "limits"), ("execution", "venue"), ("features", "features"))}}
