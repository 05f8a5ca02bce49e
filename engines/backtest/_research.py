"""The research strategy in a backtest: its Blend on each bar close's FEATURE records, as the
features engine writes them, and with a model on the SIGNAL records of its predictions, as
the models engine writes them (the same ModelHost over the same inputs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engines.features import BarFeatures, FeatureRows, Features
from engines.models import ModelHost, model_inputs
from engines.params import ParamError
from engines.strategy import Blend, BlendParams, OrderIds, OrderRow, Touch, write_orders
from shm.layout import FEATURE, ORDER, SIGNAL


class ResearchRun:
    """The research strategy on the backtest's bar closes: each close's FEATURE records (as
    the features engine writes them) and, with a model, its SIGNAL records (as the models
    engine writes them) go to its Blend; the orders wait for the batch's end."""

    def __init__(self, n_symbols: int, params: BlendParams, features: Features,
                 touch: Touch, signals: ModelSignals | None) -> None:
        self.blend = Blend(n_symbols, params, OrderIds(params.strategy_id),
                           use_signals=signals is not None)
        self.columns = features.columns
        self.rows = FeatureRows(features.columns, features.horizons)
        self.records = np.zeros(n_symbols, FEATURE)
        self.signals = signals
        self.touch = touch
        self.pending: list[OrderRow] = []

    def on_bar(self, bar: BarFeatures, table: np.ndarray) -> None:
        """A bar close: its records, decided on the clock of the tick that closed it."""
        ts = bar.origin_ts_ns
        records = self.rows.fill(bar, table, ts, self.records)
        self.blend.on_features(records, self.touch, ts, self.pending)
        if self.signals is not None:
            self.blend.on_signals(self.signals.predict(bar, self.columns), self.touch, ts,
                                  self.pending)

    def take(self) -> np.ndarray:
        """The orders of the batch's bar closes as an ORDER array (emptied)."""
        out = np.zeros(len(self.pending), ORDER)
        write_orders(self.pending, out)
        self.pending.clear()
        return out


class ModelSignals:
    """The model in force of a state dir, predicting each bar close's SIGNAL records."""

    def __init__(self, models_dir: Path, n_symbols: int) -> None:
        self.where = models_dir
        self.host = ModelHost(models_dir)
        if self.host.session is None:
            raise ParamError(f"backtest.models={str(models_dir)!r}: no model in force in "
                             f"{models_dir / 'models'} (nautilusctl research train "
                             "--activate)")
        self.out = np.zeros(n_symbols, SIGNAL)

    def predict(self, bar: BarFeatures, columns: tuple[str, ...]) -> np.ndarray:
        x = model_inputs(bar.values, columns)
        if x.shape[1] != len(self.host.columns):
            raise ParamError(f"backtest.models={str(self.where)!r}: the model in force takes "
                             f"{len(self.host.columns)} inputs, these features give "
                             f"{x.shape[1]}")
        version, y = self.host.predict(x)
        rec = self.out[:y.shape[0]]
        rec["origin_seq"], rec["origin_ts_ns"] = bar.origin_seq, bar.origin_ts_ns
        rec["bar_ns"], rec["ts_ns"] = bar.bar_ns, bar.origin_ts_ns
        rec["symbol_id"], rec["model_version"], rec["prediction"] = bar.symbol_ids, version, y
        return rec
