"""The models engine: ticks in, features at each bar close, the model's signal on the bus and
on its signals ring.

Bars are cut on the ticks' own stamps (recorded time in a replay); at each close every
symbol that ticked gets a prediction from the model in force, published on
`research.signals.<symbol>` ({"version", "bar_ns", "signal"}) and, when the engine writes a
SIGNAL ring, as one record per symbol (symbol, model version, prediction, the input's tick:
shm.layout.SIGNAL), written before the bus messages. Service: `models.activate`
(version=N: loads N beside the version in force and swaps it in before the next batch, no
restart; `research.models.activated` on the bus when it is in force) and `models.status`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import zmq

from engines.base import Engine
from engines.errors import ServiceError
from engines.features import BarFeatures, FeatureParams, TickBars
from engines.models._host import ModelHost
from engines.models._inputs import model_inputs
from engines.params import param, parse_params
from engines.rings import RecordWriter
from engines.service import ServiceServer, service_endpoint
from engines.wiring import one_writer
from shm.errors import RingFullError
from shm.layout import SIGNAL
from shm.status import W_CUSTOM0, W_DROPPED, W_RECORDS_OUT

W_VERSION, W_PREDICTIONS = W_CUSTOM0, W_CUSTOM0 + 1  # the counters, in that order

LOADING_WAKE_S = 0.002  # while a version loads: look for it this often, ticks or not


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelsParams(FeatureParams):
    max_batch: int = param(4_096, unit="ticks", min=1)


class ModelsEngine(Engine):
    """Reads the ticks ring; signals go on the bus, and on a SIGNAL ring when it writes one."""

    counters = ("model_version", "predictions")
    params_spec = ModelsParams

    def on_start(self) -> None:
        self.p = parse_params(ModelsParams, self.ctx.params, f"engines.{self.ctx.name}.params")
        self.feed = TickBars(self.ctx, self.p)
        self.symbols, self.features = self.feed.symbols, self.feed.features
        self.ring = one_writer(self.ctx, SIGNAL, required=False)
        self.out = np.zeros(len(self.symbols), SIGNAL)
        self.host = ModelHost(self.ctx.state_dir)
        self.pub = self.ctx.publisher()
        self.service = ServiceServer(service_endpoint(self.ctx.runtime_dir, self.ctx.name),
                                     {"models.activate": self._activate,
                                      "models.status": self._status})
        self.ctx.status.put(W_VERSION, self.host.version or 0)

    def poll(self) -> int:
        if self.service.socket.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            self.service.serve()
        if self.host.swap_if_ready():
            self._announce()
        n, bars = self.feed.read(self.p.max_batch)
        for bar in bars:
            self._predict(bar)
        return n

    def _predict(self, bar: BarFeatures) -> None:
        if self.host.session is None:
            return
        x = model_inputs(bar.values, self.features.columns)
        if x.shape[1] != len(self.host.columns):
            return  # a model of other inputs: counted as no prediction, status says why
        version, y = self.host.predict(x)
        if self.ring is not None:
            self._write(self.ring, bar, version, y)
        bar_ns = bar.bar_ns
        for sym, signal in zip(bar.symbol_ids.tolist(), y.tolist(), strict=True):
            self.pub.publish(f"research.signals.{self.symbols[sym]}",
                             {"version": version, "bar_ns": bar_ns, "signal": signal})
        self.ctx.status.add(W_PREDICTIONS, len(y))

    def _write(self, ring: RecordWriter, bar: BarFeatures, version: int, y: np.ndarray
               ) -> None:
        """One SIGNAL per symbol of the bar onto the signals ring (an overwrite ring never
        waits; a full block ring past its timeout drops them, counted)."""
        k = y.shape[0]
        rec = self.out[:k]
        rec["origin_seq"], rec["origin_ts_ns"] = bar.origin_seq, bar.origin_ts_ns
        rec["bar_ns"], rec["ts_ns"] = bar.bar_ns, time.time_ns()
        rec["symbol_id"], rec["model_version"], rec["prediction"] = bar.symbol_ids, version, y
        try:
            ring.write(rec)
        except RingFullError:
            self.ctx.status.add(W_DROPPED, k)
            return
        self.ctx.status.add(W_RECORDS_OUT, k)

    def _announce(self) -> None:
        version = self.host.version or 0
        self.ctx.status.put(W_VERSION, version)
        took_ms = (time.monotonic_ns() - self.host.activated_ns) / 1e6
        self.log.info("model_activated", version=version, took_ms=round(took_ms, 3))
        self.pub.publish("research.models.activated",
                         {"engine": self.ctx.name, "version": version, "took_ms": took_ms})

    def _activate(self, version: object = None) -> dict[str, Any]:
        """args {"version": N} -> {"loading": N, "in_force": M}; N must be registered."""
        try:
            number = int(str(version))
        except ValueError:
            raise ServiceError("models.activate", "BAD_ARGS",
                               f"version {version!r} is not a version number "
                               f"(versions: {self.host.registry.versions()})") from None
        try:
            return self.host.activate(number)
        except Exception as exc:
            raise ServiceError("models.activate", "BAD_ARGS", str(exc)) from None

    def _status(self) -> dict[str, Any]:
        return {**self.host.status(), "predictions": self.ctx.status.get(W_PREDICTIONS)}

    def next_wakeup_s(self) -> float | None:
        return LOADING_WAKE_S if self.host.status()["loading"] else None

    def wait_handles(self) -> list[Any]:
        return [self.service.socket]

    def on_stop(self) -> None:
        self.service.close()
        self.log.info("models_stopped", version=self.host.version,
                      predictions=self.ctx.status.get(W_PREDICTIONS))
