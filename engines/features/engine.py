"""The features engine: ticks in; at each bar close the indicators and the factors on the bus,
and on its features ring when it has one.

`research.features.<symbol>` carries {"bar_ns", "values": {column: value}} for each symbol
that ticked in the bar; `research.factors` carries {"bar_ns", "symbols", and one list per
factor} across every configured symbol. A FEATURE writer ring gets one record per symbol
that ticked (its indicators and its factors at that close: shm.layout.FEATURE), written
before the bus messages, so a strategy reading it never waits on the bus. Bars are cut on the
ticks' own stamps, so a replay on recorded time gives the recording's bars.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from engines.base import Engine
from engines.features._factors import FACTOR_COLUMNS, factors
from engines.features._indicators import BarFeatures, FeatureParams
from engines.features._records import FeatureRows, feature_buffer
from engines.features._ticks import TickBars
from engines.params import ParamError, param, parse_params
from engines.rings import RecordWriter
from engines.wiring import one_writer
from shm.errors import RingFullError
from shm.layout import FEATURE
from shm.status import W_CUSTOM0, W_DROPPED, W_RECORDS_OUT


@dataclass(frozen=True, kw_only=True, slots=True)
class FeaturesEngineParams(FeatureParams):
    max_batch: int = param(4_096, unit="ticks", min=1)


class FeaturesEngine(Engine):
    """Reads the ticks ring; publishes on the bus, and on a FEATURE ring when it writes one."""

    counters = ("bars",)
    params_spec = FeaturesEngineParams

    def on_start(self) -> None:
        self.p = parse_params(FeaturesEngineParams, self.ctx.params,
                              f"engines.{self.ctx.name}.params")
        self.feed = TickBars(self.ctx, self.p)
        self.symbols, self.features = self.feed.symbols, self.feed.features
        self.ring = one_writer(self.ctx, FEATURE, required=False)
        try:  # a horizon past a FEATURE's u2 field is an error only with a features ring
            self.rows = None if self.ring is None else FeatureRows(self.features.columns,
                                                                   self.features.horizons)
        except ValueError as exc:
            raise ParamError(f"engines.{self.ctx.name}.params.horizons: {exc}") from None
        self.out = feature_buffer(len(self.symbols))
        self.pub = self.ctx.publisher()

    def poll(self) -> int:
        n, bars = self.feed.read(self.p.max_batch)
        for bar in bars:
            self._publish(bar)
        return n

    def _publish(self, bar: BarFeatures) -> None:
        columns = self.features.columns
        table = factors(self.features.latest, columns)
        if self.ring is not None and self.rows is not None:
            self._write(self.ring, self.rows.fill(bar, table, time.time_ns(), self.out))
        for sym, row in zip(bar.symbol_ids.tolist(), bar.values.tolist(), strict=True):
            self.pub.publish(f"research.features.{self.symbols[sym]}",
                             {"bar_ns": bar.bar_ns,
                              "values": dict(zip(columns, map(_plain, row), strict=True))})
        doc: dict[str, Any] = {"bar_ns": bar.bar_ns, "symbols": list(self.symbols)}
        for i, name in enumerate(FACTOR_COLUMNS):
            doc[name] = [_plain(v) for v in np.asarray(table[:, i]).tolist()]
        self.pub.publish("research.factors", doc)
        self.ctx.status.add(W_CUSTOM0, 1)

    def _write(self, ring: RecordWriter, records: np.ndarray) -> None:
        """Onto the features ring (an overwrite ring never waits; a full block ring past its
        timeout drops this close, counted, and the bus still carries it)."""
        try:
            ring.write(records)
        except RingFullError:
            self.ctx.status.add(W_DROPPED, int(records.shape[0]))
            return
        self.ctx.status.add(W_RECORDS_OUT, int(records.shape[0]))


def _plain(value: float) -> float | None:
    """NaN (not known yet) as None: msgpack readers in other languages need no NaN."""
    return None if math.isnan(value) else value
