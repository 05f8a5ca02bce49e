"""The backtest pipeline: marketdata -> features -> strategy -> risk -> execution, in process.

The shipped engines' own logic (MeanReversion's batch signal or the research strategy's
Blend on each bar close's FEATURE records, RiskState and decide, the OrderManager) runs over
recorded ticks in ring-sized batches, on a RecordedClock: each
batch's "now" is its last tick's stamp, so cooldowns, rate buckets, bars, times to live and
venue latency follow the records and nothing sleeps; each order lives on the clock of the
tick that triggered it (stamped, decided and sent at that tick's time, against its mid and
touch: no time passes inside the pipeline; a research order's tick is the one that closed
its bar, its touch that of its own symbol then). Pure: the same ticks and config give
the same fills, byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engines.backtest._research import ModelSignals, ResearchRun
from engines.clock import RecordedClock
from engines.execution import (
    DECISION_READ,
    FILL_WRITTEN,
    FillRow,
    OrderManager,
    VenueParams,
    fill_records,
)
from engines.features import FeatureParams, Features, factors
from engines.risk import RiskLimits, RiskState, decide
from engines.strategy import BlendParams, MeanReversion, OrderIds, SignalParams
from shm.layout import (
    DECISION,
    FILL,
    FILL_FILLED,
    FILL_PARTIAL,
    ORDER,
    VERDICT_APPROVED,
)

TOUCH = ("bid", "ask", "bid_size", "ask_size")
# A fill row's fields by name (FILL_WRITTEN positions: the layout may add fields).
_STATUS, _SIDE, _QTY = FILL_WRITTEN.status, FILL_WRITTEN.side, FILL_WRITTEN.qty
_SYMBOL, _PRICE = FILL_WRITTEN.symbol_id, FILL_WRITTEN.price


@dataclass(frozen=True, kw_only=True, slots=True)
class BacktestConfig:
    """What one run needs: the symbols and each engine's params (from a topology file)."""

    symbols: tuple[str, ...]
    signal: SignalParams = field(default_factory=SignalParams)
    research: BlendParams | None = None  # set: the research strategy runs instead of signal
    limits: RiskLimits = field(default_factory=RiskLimits)
    venue: VenueParams = field(default_factory=VenueParams)
    features: FeatureParams = field(default_factory=FeatureParams)
    batch: int = 4_096  # ticks per batch: what a live engine takes from its ring per poll
    # a state dir: its model in force predicts at each bar close, as the models engine does,
    # and the research strategy reads those signals
    models_dir: Path | None = None


@dataclass(slots=True)
class BacktestResult:
    """Fills (FILL records), the equity at each bar close, and counts."""

    fills: np.ndarray
    equity_ns: np.ndarray  # bar start, ns
    equity: np.ndarray  # cash + positions at the bar's closes
    ticks: int = 0
    orders: int = 0
    approved: int = 0
    bars: int = 0
    factor_rows: int = 0
    elapsed_ns: int = 0  # recorded time covered


class _Book:
    """Cash and positions from the fills, marked at bar closes."""

    def __init__(self, n_symbols: int) -> None:
        self.cash = 0.0
        self.position = np.zeros(n_symbols)
        self.mark = np.full(n_symbols, np.nan)

    def on_fills(self, rows: list[FillRow]) -> None:
        for row in rows:
            if row[_STATUS] in (FILL_PARTIAL, FILL_FILLED):
                signed = row[_SIDE] * row[_QTY]
                self.position[row[_SYMBOL]] += signed
                self.cash -= signed * row[_PRICE]

    def equity(self) -> float:
        held = self.position != 0
        return self.cash + float(np.nansum(self.position[held] * self.mark[held]))


def run(ticks: np.ndarray, cfg: BacktestConfig) -> BacktestResult:
    """Run the pipeline over a TICK array in stamp order (seq = row + 1)."""
    n_sym = len(cfg.symbols)
    clock = RecordedClock()
    features = Features(n_sym, cfg.features)
    signal = MeanReversion(n_sym, cfg.signal, OrderIds(cfg.signal.strategy_id))
    risk = RiskState(n_sym, cfg.limits)
    om = OrderManager(cfg.venue, np.zeros(cfg.limits.max_strategies, dtype=np.int64))
    book = _Book(n_sym)
    orders, decisions = np.zeros(n_sym, ORDER), np.zeros(n_sym, DECISION)
    quotes: dict[int, tuple[float, float, int, int]] = {}
    fills: list[FillRow] = []
    curve_ns: list[int] = []
    curve: list[float] = []
    res = BacktestResult(np.zeros(0, FILL), np.zeros(0, np.int64), np.zeros(0))
    touch = _TouchAt(ticks, n_sym)
    research = None if cfg.research is None else ResearchRun(n_sym, cfg.research, features,
                                                             touch.at, _signals(cfg, n_sym))
    for start in range(0, ticks.shape[0], cfg.batch):
        chunk = ticks[start:start + cfg.batch]
        clock.advance(int(chunk["ts_ns"][-1]))
        now = clock.now_ns()
        for bar in features.update(chunk):
            table = factors(features.latest, features.columns)
            res.bars += 1
            res.factor_rows += int(np.isfinite(table).all(axis=1).sum())
            book.mark[bar.symbol_ids] = bar.values[:, 0]
            curve_ns.append(bar.bar_ns)
            curve.append(book.equity())
            if research is not None:
                research.on_bar(bar, table)
        if research is None:
            sent = orders[:signal.on_ticks(chunk, orders, now)]
            touches = _origin_touches(ticks)
        else:
            sent, touches = research.take(), touch.of_orders
        new: list[FillRow] = []
        if sent.shape[0]:
            res.orders += sent.shape[0]
            if sent.shape[0] > decisions.shape[0]:
                decisions = np.zeros(sent.shape[0], DECISION)
            res.approved += _decide_and_trade(sent, decisions[:sent.shape[0]], touches, risk,
                                              om, quotes, new)
        risk.on_ticks(chunk)
        if om.pending:
            touch.trade_due(om, now, new)
        _last_quotes(chunk, quotes)
        if om.resting:
            om.match(now, quotes, new)
        if new:
            book.on_fills(new)
            fills.extend(new)
    last = features.flush()
    if last is not None:
        res.bars += 1
        book.mark[last.symbol_ids] = last.values[:, 0]
        curve_ns.append(last.bar_ns)
        curve.append(book.equity())
    res.fills = fill_records(fills)
    res.equity_ns, res.equity = np.array(curve_ns, np.int64), np.array(curve)
    res.ticks = int(ticks.shape[0])
    if ticks.shape[0]:
        res.elapsed_ns = int(ticks["ts_ns"][-1] - ticks["ts_ns"][0])
    return res


Touches = Callable[[np.ndarray], list[tuple[float, float, int, int]]]  # ORDERs -> touches


def _signals(cfg: BacktestConfig, n_symbols: int) -> ModelSignals | None:
    return None if cfg.models_dir is None else ModelSignals(cfg.models_dir, n_symbols)


def _origin_touches(ticks: np.ndarray) -> Touches:
    """Each order's touch: that of the tick that triggered it (the shipped strategy's)."""
    def touches(orders: np.ndarray) -> list[tuple[float, float, int, int]]:
        origin = ticks[(orders["origin_seq"] - 1).astype(np.intp)]
        rows: list[tuple[float, float, int, int]] = origin[list(TOUCH)].tolist()
        return rows
    return touches


def _decide_and_trade(orders: np.ndarray, decisions: np.ndarray, touches_of: Touches,
                      risk: RiskState, om: OrderManager,
                      quotes: dict[int, tuple[float, float, int, int]],
                      out: list[FillRow]) -> int:
    """Each order on the clock of the tick that triggered it: stamped with that tick's time,
    decided by risk against its touch's mid, sent to the venue against that touch (no time
    passes inside the pipeline; venue latency is the venue's). Returns how many approved."""
    orders[:] = orders[np.argsort(orders["origin_ts_ns"], kind="stable")]  # in time order
    orders["ts_ns"] = orders["origin_ts_ns"]
    touches = touches_of(orders)
    approved = 0
    for i, ts in enumerate(orders["ts_ns"].tolist()):
        bid, ask, _, _ = touches[i]
        sym = int(orders["symbol_id"][i])
        risk.last_mid[sym] = (bid + ask) * 0.5
        decide(risk, orders[i:i + 1], decisions[i:i + 1], ts)
        row = DECISION_READ.struct.unpack(decisions[i:i + 1].view(np.uint8).data)
        approved += row[12] == VERDICT_APPROVED
        quotes[sym] = touches[i]
        if not om.trade_now(row, ts, quotes, out):
            om.on_decision(row, ts, out)
    return approved


class _TouchAt:
    """Each symbol's touch at any recorded time: the last tick of it stamped at or before."""

    def __init__(self, ticks: np.ndarray, n_symbols: int) -> None:
        self.ticks = ticks
        self.rows = [np.flatnonzero(ticks["symbol_id"] == s) for s in range(n_symbols)]
        self.stamps = [ticks["ts_ns"][r] for r in self.rows]

    def at(self, sym: int, ts_ns: int) -> tuple[float, float, int, int] | None:
        i = int(np.searchsorted(self.stamps[sym], ts_ns, side="right")) - 1
        if i < 0:
            return None
        row = self.ticks[self.rows[sym][i]]
        return (float(row["bid"]), float(row["ask"]), int(row["bid_size"]),
                int(row["ask_size"]))

    def of_orders(self, orders: np.ndarray) -> list[tuple[float, float, int, int]]:
        """Each order's own symbol's touch at its stamp (Touches, for the research orders:
        the strategy priced each at it, so one is always there)."""
        out = []
        for sym, ts in zip(orders["symbol_id"].tolist(), orders["origin_ts_ns"].tolist(),
                           strict=True):
            quote = self.at(sym, ts)
            if quote is None:  # pragma: no cover - the strategy priced the order at it
                raise RuntimeError(f"backtest: no touch of symbol {sym} at {ts} for an order")
            out.append(quote)
        return out

    def trade_due(self, om: OrderManager, now_ns: int, out: list[FillRow]) -> None:
        """Orders that came out of their venue latency by `now_ns`, each traded at its due
        time against the touch of that moment (not the batch's last)."""
        while om.pending and om.pending[0].due_ns <= now_ns:
            due = om.pending[0].due_ns
            quotes = {}
            for order in om.pending:  # in due order: every order due at that moment
                if order.due_ns > due:
                    break
                quote = self.at(order.symbol_id, due)
                if quote is not None:
                    quotes[order.symbol_id] = quote
            om.match(due, quotes, out)


def _last_quotes(chunk: np.ndarray, quotes: dict[int, tuple[float, float, int, int]]) -> None:
    """Each symbol's touch at the batch's end (what execution holds when it next matches)."""
    sym = chunk["symbol_id"]
    last = np.full(int(sym.max()) + 1, -1, dtype=np.int64)
    last[sym] = np.arange(sym.shape[0])
    rows = last[last >= 0]
    for s, touch in zip(sym[rows].tolist(), chunk[rows][list(TOUCH)].tolist(), strict=True):
        quotes[s] = touch
