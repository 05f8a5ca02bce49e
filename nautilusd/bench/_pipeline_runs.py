"""The four measurements of the pipeline bench, each in its own processes and segments.

Tick-to-fill over rings and over zmq (same engines, same params), risk batched throughput
fed by a writer process, and marketdata -> strategy tick throughput.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import time
from collections.abc import Callable
from functools import partial
from multiprocessing.process import BaseProcess
from pathlib import Path

import numpy as np

from engines.spec import EngineConfig
from nautilusd.bench._pipeline_rig import Rig, Tuning, engine, ring
from nautilusd.paths import scratch_id
from shm import RingReader
from shm.layout import DECISION, FILL, ORDER, TICK
from shm.status import W_READY, W_RECORDS_IN, W_RECORDS_OUT, StatusTable

SYMBOLS = ("AAPL", "MSFT", "ESZ6", "EURUSD")
BIG = 10**12
# Every tick trades: no threshold, no cooldown, limits that never bind.
STRATEGY = {"strategy_id": 1, "threshold_bps": 0.0, "cooldown_ms": 0.0, "max_position": BIG}
RISK = {"max_order_qty": BIG, "max_notional": 1e18, "max_position": BIG, "max_gross": BIG,
        "price_band_bps": 1e6, "max_orders_per_s": BIG}
EXECUTION = {"publish_executions": False}
COLLECT_S = 0.02  # the bench takes fills this often: it must not be on the measured path


def _dirs() -> tuple[Path, Path]:
    shm = Path("/dev/shm") / f"nautilusd-bench-{scratch_id(8)}"
    rt = Path("/tmp") / f"ndb-{scratch_id(8)}"
    shm.mkdir(mode=0o700)
    rt.mkdir(mode=0o700)
    return shm, rt


def _cleanup(*paths: Path) -> None:
    for p in paths:
        shutil.rmtree(p, ignore_errors=True)


def _latency_engines(rate: float, tuning: dict[str, Tuning]) -> list[EngineConfig]:
    return [
        engine("execution", "engines.execution:ExecutionEngine", tuning["execution"],
               **EXECUTION),
        engine("risk", "engines.risk:RiskEngine", tuning["risk"], **RISK),
        engine("strategy", "engines.strategy:StrategyEngine", tuning["strategy"], **STRATEGY),
        engine("marketdata", "engines.marketdata:MarketDataEngine", tuning["marketdata"],
               rate_per_s=rate, max_batch=1, bars=False),
    ]


def ring_tick_to_fill(duration_s: float, rate: float, tuning: dict[str, Tuning],
                      latest: bool = True, journal: Tuning | None = None,
                      state_dir: Path | None = None, amends: bool = True) -> np.ndarray:
    """Latencies (ns) of every fill: marketdata -> strategy -> risk -> execution over rings;
    `latest`: the ticks ring keeps a latest-value board (as configs/default.toml has it);
    `journal`: a journal engine (fsync = "batch") also reads orders, decisions and fills;
    `amends`: the operators' amends and amend_decisions rings (as configs/default.toml)."""
    shm, rt = _dirs()
    more = ("journal",) if journal is not None else ()
    rings = [ring("ticks", "tick", "marketdata", ("strategy", "risk", "execution"),
                  capacity=16384, policy="overwrite", latest=latest),
             ring("orders", "order", "strategy", ("risk", *more)),
             ring("decisions", "decision", "risk", ("execution", *more)),
             ring("fills", "fill", "execution", ("bench", "risk", "strategy", *more),
                  capacity=65536)]
    if amends:
        rings += [ring("amends", "amend", "execution", ("risk",), capacity=64),
                  ring("amend_decisions", "amend", "risk", ("execution",), capacity=64)]
    engines = _latency_engines(rate, tuning)
    if journal is not None:
        engines.insert(0, engine("journal", "engines.journal:JournalEngine", journal,
                                 fsync="batch"))
    try:
        with Rig(shm, rt, SYMBOLS, rings, engines, state_dir) as rig:
            # fills carry their own timestamps: the bench collects them every few ms and
            # never parks, so no fill wakes it (a wake-up would preempt an engine mid-path)
            fills = RingReader.attach(rig.segment("fills"), FILL, 0, directory=shm)
            try:
                for name in rig.engines:
                    rig.start(name)
                _wait_for(lambda: all(rig.ready(n) for n in rig.engines), 15.0)
                latencies = _collect(lambda: _drain(fills), duration_s)
                if journal is not None:
                    _check_journal_ran(rig)
                return latencies
            finally:
                fills.close()
    finally:
        _cleanup(shm, rt)


def _check_journal_ran(rig: Rig) -> None:
    """A "with the journal" figure only counts if the journal stayed up and took records."""
    journaled = rig.slot("journal").get(W_RECORDS_IN)
    if not rig.ready("journal") or journaled == 0:
        raise RuntimeError(f"the journal engine did not run through the measurement "
                           f"(ready {rig.ready('journal')}, {journaled} records journaled)")


def _drain(reader: RingReader) -> np.ndarray | None:
    if reader.available() == 0:
        time.sleep(COLLECT_S)
        return None
    batch: np.ndarray = reader.read(65536).copy()
    reader.advance(len(batch))
    return batch


def _collect(take: Callable[[], np.ndarray | None], duration_s: float) -> np.ndarray:
    """Fill latencies over `duration_s`, after a warm-up of a quarter of it (min 0.5 s)."""
    warm_until = time.monotonic() + max(0.5, duration_s / 4)
    end = warm_until + duration_s
    got: list[np.ndarray] = []
    while (now := time.monotonic()) < end:
        batch = take()
        if batch is not None and batch.shape[0] and now >= warm_until:
            got.append(batch["ts_ns"] - batch["origin_ts_ns"])
    return np.concatenate(got) if got else np.zeros(0, np.int64)


ZMQ_WIRING = {  # stage -> (inputs, outputs), record layouts by stream
    "execution": ({"ticks": TICK, "decisions": DECISION}, {"fills": FILL}),
    "risk": ({"ticks": TICK, "orders": ORDER}, {"decisions": DECISION}),
    "strategy": ({"ticks": TICK}, {"orders": ORDER}),
    "marketdata": ({}, {"ticks": TICK}),
}


def zmq_tick_to_fill(duration_s: float, rate: float, tuning: dict[str, Tuning]) -> np.ndarray:
    """The same engines and params, wired over pyzmq ipc (PUB/SUB ticks, PUSH/PULL the rest)."""
    import zmq

    shm, rt = _dirs()
    ep = {n: f"ipc://{rt}/z-{n}.sock" for n in ("ticks", "orders", "decisions", "fills")}
    status_name = f"nautilusd.benchz{scratch_id(8)}.status"
    table = StatusTable.create(status_name, 8, directory=shm)
    zctx = zmq.Context()
    sink = zctx.socket(zmq.PULL)
    sink.setsockopt(zmq.LINGER, 0)
    sink.connect(ep["fills"])
    procs: list[BaseProcess] = []
    try:
        _spawn_zmq_stages(procs, table, status_name, shm, rt, ep, rate, tuning)

        def take() -> np.ndarray | None:
            try:
                return np.frombuffer(sink.recv(zmq.NOBLOCK), FILL)
            except zmq.Again:
                time.sleep(COLLECT_S)
                return None

        return _collect(take, duration_s)
    finally:
        _stop(procs)
        sink.close(linger=0)
        zctx.term()
        table.close()
        table.segment.unlink()
        _cleanup(shm, rt)


def _spawn_zmq_stages(procs: list[BaseProcess], table: StatusTable, status_name: str,
                      shm: Path, rt: Path, ep: dict[str, str], rate: float,
                      tuning: dict[str, Tuning]) -> None:
    """Start each stage downstream first, each ready before the next (no slow joiners)."""
    from nautilusd.bench._pipeline_zmq import run_stage

    mp = multiprocessing.get_context("fork")
    for slot, cfg in enumerate(_latency_engines(rate, tuning)):
        ins, outs = ZMQ_WIRING[cfg.name]
        table.slot(slot).reset(cfg.name)
        args = (cfg, slot, status_name, str(shm), {k: (ep[k], v) for k, v in ins.items()},
                {k: (ep[k], v) for k, v in outs.items()}, SYMBOLS, str(rt))
        proc = mp.Process(target=run_stage, args=args, daemon=True)
        proc.start()
        procs.append(proc)
        _wait_for(partial(_ready, table, slot), 15.0)
        time.sleep(0.2)  # subscribers connect asynchronously: give them a moment


def _ready(table: StatusTable, slot: int) -> bool:
    return table.slot(slot).get(W_READY) == 1


def _stop(procs: list[BaseProcess]) -> None:
    for p in reversed(procs):
        if p.is_alive():
            p.terminate()  # SIGTERM: the stage drains and exits
    for p in procs:
        p.join(5.0)
        if p.is_alive():
            p.kill()
            p.join(1.0)


def _order_writer(segment: str, shm_dir: str, ticks_segment: str) -> None:
    """Child: one tick per symbol, then valid alternating orders as fast as the ring takes."""
    from shm.ring import RingWriter

    ticks = RingWriter.attach(ticks_segment, TICK, directory=shm_dir)
    t = np.zeros(len(SYMBOLS), TICK)
    t["seq"] = np.arange(1, len(SYMBOLS) + 1)
    t["symbol_id"] = np.arange(len(SYMBOLS))
    t["bid"], t["ask"] = 99.99, 100.01
    ticks.write(t)
    orders = RingWriter.attach(segment, ORDER, directory=shm_dir)
    batch = np.zeros(4096, ORDER)
    batch["strategy_id"] = 1
    batch["symbol_id"] = np.arange(4096) % len(SYMBOLS)
    batch["side"] = np.where(np.arange(4096) % 8 < 4, 1, -1)
    batch["qty"], batch["price"], batch["type"] = 10, 100.0, 1
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    ids = np.arange(1, 4097, dtype=np.uint64)
    while not stop["now"]:
        batch["order_id"] = ids + np.uint64(1 << 40)
        batch["ts_ns"] = time.time_ns()
        try:
            orders.write(batch, timeout_s=0.2)
        except Exception:
            continue
        ids += np.uint64(4096)
    os._exit(0)


def risk_throughput(duration_s: float) -> float:
    """Orders per second decided by one risk process fed batches by a writer process."""
    shm, rt = _dirs()
    rings = [ring("ticks", "tick", "feeder", ("risk",), capacity=1024, policy="overwrite"),
             ring("orders", "order", "writer", ("risk",), capacity=65536),
             ring("decisions", "decision", "risk", (), capacity=65536)]
    risk = engine("risk", "engines.risk:RiskEngine", "blocking", **RISK, max_batch=8192)
    try:
        with Rig(shm, rt, SYMBOLS, rings, [risk]) as rig:
            rig.start("risk")
            _wait_for(lambda: rig.ready("risk"), 15.0)
            mp = multiprocessing.get_context("fork")
            writer = mp.Process(target=_order_writer, daemon=True, args=(
                rig.segment("orders"), str(shm), rig.segment("ticks")))
            writer.start()
            try:
                return _rate(lambda: rig.slot("risk").get(W_RECORDS_OUT), duration_s)
            finally:
                _stop([writer])
    finally:
        _cleanup(shm, rt)


def tick_throughput(duration_s: float) -> float:
    """Ticks per second taken by the strategy from an unpaced marketdata process."""
    shm, rt = _dirs()
    rings = [ring("ticks", "tick", "marketdata", ("strategy",), capacity=65536,
                  policy="overwrite"),
             ring("orders", "order", "strategy", (), capacity=65536)]
    engines = [engine("marketdata", "engines.marketdata:MarketDataEngine", "blocking",
                      rate_per_s=0.0, max_batch=4096, bars=False),
               engine("strategy", "engines.strategy:StrategyEngine", "blocking",
                      strategy_id=1, max_batch=8192)]
    try:
        with Rig(shm, rt, SYMBOLS, rings, engines) as rig:
            rig.start("strategy")
            _wait_for(lambda: rig.ready("strategy"), 15.0)
            rig.start("marketdata")
            return _rate(lambda: rig.slot("strategy").get(W_RECORDS_IN), duration_s)
    finally:
        _cleanup(shm, rt)


def _rate(counter: Callable[[], int], duration_s: float) -> float:
    """Counter increase per second over `duration_s`, after it starts moving plus a warm-up."""
    _wait_for(lambda: counter() > 0, 15.0)
    time.sleep(min(0.5, duration_s / 4))
    c0, t0 = counter(), time.monotonic()
    time.sleep(duration_s)
    return (counter() - c0) / (time.monotonic() - t0)


def _wait_for(cond: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"bench setup: condition not met within {timeout_s} s")
        time.sleep(0.01)


