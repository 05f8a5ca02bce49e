"""The execution engine: order manager and simulated venue between decisions and fills.

Acts only on approved decisions (fail closed), once per order id, also across restarts: the
per-strategy high-water mark of accepted ids lives in a small file in the runtime dir.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from engines._orders import OrderManager, VenueParams
from engines._params import parse_params
from engines._persist import StateFile
from engines._wiring import one_reader, one_writer, quiet
from engines.base import Engine
from shm.layout import DECISION, FILL, TICK
from shm.status import W_CUSTOM0, W_RECORDS_IN, W_RECORDS_OUT

W_DUPLICATES = W_CUSTOM0
W_IGNORED_REJECTED = W_CUSTOM0 + 1
W_FILLED_QTY = W_CUSTOM0 + 2


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutionParams(VenueParams):
    max_batch: int = 1_024
    max_strategies: int = 64
    publish_executions: bool = True  # trading.executions.<strategy_id>, one message per batch
    wake_on_ticks: bool = False  # False: ticks are read when decisions come


class ExecutionEngine(Engine):
    """Reads ticks and decisions, writes fills, publishes executions."""

    def on_start(self) -> None:
        self.p = parse_params(ExecutionParams, self.ctx.params, f"engines.{self.ctx.name}")
        self.ticks = one_reader(self.ctx, TICK)
        if not self.p.wake_on_ticks:
            quiet(self.ctx, self.ticks)
        self.decisions = one_reader(self.ctx, DECISION)
        self.fills = one_writer(self.ctx, FILL)
        # No fill ever written on this ring: nothing can be filled twice, start clean.
        self.hwm = StateFile(self.ctx.runtime_dir / f"{self.ctx.name}.hwm",
                             {"high_water": ("<i8", self.p.max_strategies)},
                             fresh=self.fills.cursor == 0)
        self.om = OrderManager(self.p, self.hwm.arrays["high_water"])
        self.om.exec_id = self.fills.cursor  # exec ids continue: one per fill record
        self.quotes: dict[int, tuple[float, float, int, int]] = {}
        self.pending_fills: list[tuple] = []  # type: ignore[type-arg]
        self.log.info("execution_started", high_water=self.hwm.arrays["high_water"][:8].tolist())

    def poll(self) -> int:
        n = self._read_ticks()
        now = time.time_ns()
        batch = self.decisions.read(self.p.max_batch)
        k = batch.shape[0]
        if k:
            for row in batch.tolist():
                self.om.on_decision(row, now)
            self.decisions.advance(k)
            self.ctx.status.add(W_RECORDS_IN, k)
        if self.om.pending or self.om.resting:
            self.om.match(time.time_ns(), self.quotes, self.pending_fills)
        if self.pending_fills:
            self._write_fills()
        return n + k

    def _read_ticks(self) -> int:
        ticks = self.ticks.read(4_096)
        n = ticks.shape[0]
        if n == 0:
            return 0
        if n > 16:  # keep only the last tick per symbol before going to Python objects
            sym = ticks["symbol_id"]
            last = np.full(int(sym.max()) + 1, -1, dtype=np.int64)
            last[sym] = np.arange(n)
            rows = ticks[last[last >= 0]]
        else:
            rows = ticks
        for _, _, s, _, bid, ask, bid_size, ask_size, _ in rows.tolist():
            self.quotes[s] = (bid, ask, bid_size, ask_size)
        self.ticks.advance(n)
        return n

    def _write_fills(self) -> None:
        fills = np.array(self.pending_fills, dtype=FILL)
        self.pending_fills.clear()
        if not self.p.publish_executions:
            self.om.take_order_prices()
        self.fills.write(fills)
        status = self.ctx.status
        status.add(W_RECORDS_OUT, fills.shape[0])
        status.add(W_FILLED_QTY, int(fills["qty"].sum()))
        status.put(W_DUPLICATES, self.om.duplicates)
        status.put(W_IGNORED_REJECTED, self.om.ignored_rejected)
        if self.p.publish_executions:
            self._publish(fills)

    def _publish(self, fills: np.ndarray) -> None:
        pub = self.ctx.publisher()
        ref = np.array(self.om.take_order_prices(), dtype=np.float64)
        for strategy_id in np.unique(fills["strategy_id"]).tolist():
            mine = fills[fills["strategy_id"] == strategy_id]
            pub.publish(f"trading.executions.{strategy_id}", {
                name: mine[name].tolist() for name in
                ("order_id", "exec_id", "symbol_id", "side", "status", "qty", "price",
                 "leaves_qty", "ts_ns", "origin_ts_ns", "order_ts_ns", "decided_ts_ns")}
                | {"order_price": ref[fills["strategy_id"] == strategy_id].tolist()})

    def next_wakeup_s(self) -> float | None:
        if self.om.resting:
            return 0.001  # resting orders trade on new ticks, which do not wake us
        return self.om.next_due_s(time.time_ns())

    def on_stop(self) -> None:
        deadline = time.monotonic() + 1.0
        while self.om.pending and time.monotonic() < deadline:  # let latency-delayed orders trade
            self.om.match(time.time_ns(), self.quotes, self.pending_fills)
            if self.pending_fills:
                self._write_fills()
        self.log.info("execution_stopped", fills=self.ctx.status.get(W_RECORDS_OUT),
                      duplicates=self.om.duplicates, ignored_rejected=self.om.ignored_rejected)
        self.hwm.flush()
        if not self.p.wake_on_ticks:
            self.ticks.close()
