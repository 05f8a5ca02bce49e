"""An engine's ticks ring feeding its Features: the bars each read closes, ticks counted in.

What the features and models engines share; what they do with a closed bar is their own.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from engines.base import EngineContext
from engines.features._indicators import BarFeatures, FeatureParams, Features
from engines.wiring import one_reader
from shm.layout import TICK
from shm.status import W_RECORDS_IN

_NO_BARS: Final[list[BarFeatures]] = []  # never appended to: an idle read allocates nothing


class TickBars:
    """The one TICK reader ring of `ctx` and the Features of its symbols (`params` may be an
    engine's subclass of FeatureParams: only the indicator fields are taken)."""

    def __init__(self, ctx: EngineContext, params: FeatureParams) -> None:
        self.symbols = ctx.symbols or ("SYM0",)
        indicators = FeatureParams(**{f.name: getattr(params, f.name)
                                      for f in dataclasses.fields(FeatureParams)})
        self.features = Features(len(self.symbols), indicators, f"engines.{ctx.name}.params")
        self.ticks = one_reader(ctx, TICK)
        self._status = ctx.status

    def read(self, max_batch: int) -> tuple[int, list[BarFeatures]]:
        """Up to `max_batch` ticks consumed: how many, and the bars they closed (oldest first)."""
        batch = self.ticks.read(max_batch)
        n = int(batch.shape[0])
        if n == 0:
            return 0, _NO_BARS
        bars = self.features.update(batch)
        self.ticks.advance(n)
        self._status.add(W_RECORDS_IN, n)
        return n, bars
