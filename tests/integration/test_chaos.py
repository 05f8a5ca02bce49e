"""Chaos: a short seeded fault run against a real nautilusd, and the ring adoption it relies on.

The run kills every engine kind (risk and execution mid-batch), hangs one, laps a slow
reader, kills a block-ring reader holding the ring back, loops a crash and a memory cap and
SIGKILLs nautilusd itself; the kept rings must then reconcile with nothing lost or doubled.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest
from daemon_helpers import gone, start_daemon, stop, wait_ready, write_config

from engines.base import Engine
from engines.harness import Harness
from engines.spec import RingConfig
from nautilusd import paths
from nautilusd.chaos.run import SPECIALS, plan
from nautilusd.config.model import SupervisorConfig, Topology
from nautilusd.ctl import main as cli
from nautilusd.ringset import RingSet, adopt_rings
from shm import Policy
from shm.layout import (
    DECISION,
    FILL,
    FILL_FILLED,
    ORDER,
    TICK,
    TIF_IOC,
    TYPE_LIMIT,
    VERDICT_APPROVED,
)
from shm.ring import Ring, RingReader, RingWriter, ring_stats
from shm.segment import OFF_OWNER_PID

ROOT = Path(__file__).resolve().parents[2]
SUMMARY_KEYS = {"kills", "orders_published", "orders_lost", "duplicate_fills",
                "unapproved_fills", "engines_not_recovered", "kill_to_ready_p50_ms",
                "kill_to_ready_p99_ms", "kill_to_ready_by_fault", "positions_mismatch",
                "kill_switch_lost", "daemon_restarts", "reboots"}
ENGINE_KINDS = {"marketdata", "strategy", "risk", "execution", "positions", "analytics",
                "notification"}


@pytest.mark.slow
@pytest.mark.timeout(115)
def test_chaos_when_short_run_with_every_fault_loses_nothing() -> None:
    """A 25 s seeded run with >= 5 kills across every engine kind reconciles exactly."""
    result = subprocess.run(
        [sys.executable, "-m", "nautilusd.chaos.run", "--duration", "25", "--kills", "6",
         "--seed", "3", "--json"], capture_output=True, text=True, timeout=110, cwd=ROOT)
    doc = json.loads(result.stdout)
    summary, rows = doc["summary"], doc["results"]
    assert doc["suite"] == "chaos" and set(summary) == SUMMARY_KEYS
    assert result.returncode == 0, json.dumps(rows, indent=1)[-4000:]
    assert summary["kills"] >= 5 and summary["orders_published"] > 0
    assert summary["orders_lost"] == summary["duplicate_fills"] == 0
    assert summary["unapproved_fills"] == summary["engines_not_recovered"] == 0
    assert summary["kill_to_ready_p99_ms"] >= summary["kill_to_ready_p50_ms"] > 0
    per_fault = summary["kill_to_ready_by_fault"]
    assert {"sigkill", "engine_kill"} <= set(per_fault) and per_fault["engine_kill"]["n"] > 0
    killed = {r["engine"] for r in rows if r.get("kills") and r["fault"].startswith("sigkill")}
    assert killed >= ENGINE_KINDS
    by_fault = {r["fault"]: r for r in rows}
    assert by_fault["daemon_sigkill"]["detail"]["rings_kept"]
    assert by_fault["crash_loop"]["detail"]["fatal"] and by_fault["crash_loop"]["recovered"]
    assert by_fault["memory_cap"]["kills"] >= 1
    assert by_fault["hang"]["detail"]["reason"] == "liveness"
    assert by_fault["slow_reader"]["detail"]["lost_consistent"]
    assert by_fault["block_reader_death"]["detail"]["caught_up"]
    assert by_fault["reconcile"]["detail"]["positions_mismatch"] == 0


def test_plan_when_seeded_kills_every_kind_and_includes_every_fault() -> None:
    """The plan is reproducible from its seed, kills every engine kind and reaches `kills`."""
    steps = plan(20, SPECIALS, random.Random(7))
    assert steps == plan(20, SPECIALS, random.Random(7))
    assert {e for f, e in steps if f in ("kill", "kill_mid_batch")} == ENGINE_KINDS
    assert {f for f, _ in steps} >= set(SPECIALS)
    assert sum(f in ("kill", "kill_mid_batch") for f, _ in steps) + 4 >= 20


def test_nautilusctl_chaos_when_fault_unknown_exits_2_naming_it(
    capsys: pytest.CaptureFixture[str]
) -> None:
    """`nautilusctl chaos` dispatches to the chaos runner, which refuses an unknown fault."""
    assert cli.main(["chaos", "--faults", "bogus", "--duration", "1"]) == 2
    assert "bogus" in capsys.readouterr().err


def _topology(shm_dir: Path, capacity: int = 256, latest: bool = False,
              symbols: tuple[str, ...] = ()) -> Topology:
    orders = RingConfig(name="orders", record="order", capacity=capacity,
                        policy=Policy.BLOCK, writer="strategy", readers=("risk",),
                        latest=latest)
    return Topology(source=Path("adopt.toml"),
                    supervisor=SupervisorConfig(instance="adopt", shm_dir=shm_dir),
                    groups=MappingProxyType({}), rings=MappingProxyType({"orders": orders}),
                    engines=MappingProxyType({}), symbols=symbols)


def _orphan(ring: Ring) -> None:
    """Make `ring` look like the leftover of a SIGKILLed nautilusd (owner pid of a dead
    process), and close our handle without unlinking."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    ring.segment.words[OFF_OWNER_PID // 8] = proc.pid
    ring.segment.close()


@pytest.mark.timeout(20)
def test_adopt_when_geometry_matches_keeps_records_and_cursors(shm_dir: Path) -> None:
    """A dead owner's ring with the configured geometry is adopted: records, writer and
    reader cursors survive, the dead parties' pids are forgotten, the writer resumes."""
    name = paths.ring_segment("adopt", "orders")
    first = RingSet.create(_topology(shm_dir), shm_dir)
    writer = RingWriter.attach(name, ORDER, directory=shm_dir)
    reader = RingReader.attach(name, ORDER, 0, directory=shm_dir)
    writer.write(_orders(10))
    reader.advance(4)
    writer.close()
    reader.close()
    _orphan(first.rings["orders"])
    adopted = adopt_rings(_topology(shm_dir), shm_dir)
    rings = RingSet.create(_topology(shm_dir), shm_dir, adopted=adopted)
    try:
        assert rings.adopted == ("orders",)
        stats = ring_stats(name, directory=shm_dir)
        assert stats["cursor"] == 10 and stats["writer_pid"] == 0
        assert stats["readers"][0]["cursor"] == 4 and stats["readers"][0]["pid"] == 0
        assert rings.rings["orders"].segment.header.epoch == 1
        again = RingReader.attach(name, ORDER, 0, directory=shm_dir)
        assert [int(i) for i in again.read(100)["order_id"]] == [5, 6, 7, 8, 9, 10]
        again.close()
    finally:
        rings.destroy()


def _orders(n: int) -> np.ndarray:
    out = np.zeros(n, dtype=ORDER)
    out["order_id"] = np.arange(1, n + 1)
    return out


@pytest.mark.timeout(20)
def test_adopt_when_capacity_differs_leaves_ring_to_be_reclaimed(shm_dir: Path) -> None:
    """A dead owner's ring whose capacity no longer matches the config is not adopted; the
    new ring set replaces it (a new session, cursor 0)."""
    first = RingSet.create(_topology(shm_dir, capacity=256), shm_dir)
    writer = RingWriter.attach(paths.ring_segment("adopt", "orders"), ORDER, directory=shm_dir)
    writer.write(_orders(3))
    writer.close()
    _orphan(first.rings["orders"])
    assert adopt_rings(_topology(shm_dir, capacity=512), shm_dir) == {}
    rings = RingSet.create(_topology(shm_dir, capacity=512), shm_dir)
    try:
        stats = ring_stats(paths.ring_segment("adopt", "orders"), directory=shm_dir)
        assert stats["capacity"] == 512 and stats["cursor"] == 0 and rings.adopted == ()
    finally:
        rings.destroy()


@pytest.mark.timeout(20)
def test_adopt_when_board_differs_only_the_same_board_is_adopted(shm_dir: Path) -> None:
    """The latest-value board is part of the geometry: a ring left with a 2-symbol board is
    adopted by a 2-symbol topology (board kept) and by no other."""
    two = _topology(shm_dir, latest=True, symbols=("A", "B"))
    name = paths.ring_segment("adopt", "orders")
    first = RingSet.create(two, shm_dir)
    writer = RingWriter.attach(name, ORDER, directory=shm_dir)
    writer.write(_orders(3))
    writer.close()
    _orphan(first.rings["orders"])
    assert adopt_rings(_topology(shm_dir), shm_dir) == {}
    assert adopt_rings(_topology(shm_dir, latest=True, symbols=("A", "B", "C")), shm_dir) == {}
    adopted = adopt_rings(two, shm_dir)
    rings = RingSet.create(two, shm_dir, adopted=adopted)
    try:
        assert rings.adopted == ("orders",)
        reader = RingReader.attach(name, ORDER, 0, directory=shm_dir)
        got = reader.latest(0)
        assert reader.latest_slots == 2 and got is not None
        assert int(np.frombuffer(got, ORDER)["order_id"][0]) == 3
        reader.close()
    finally:
        rings.destroy()


@pytest.mark.timeout(60)
def test_restart_when_daemon_sigkilled_adopts_rings_and_reader_resumes(shm_dir, runtime_dir):
    """After a SIGKILL of nautilusd, the next start adopts the ring: the cursor goes on from
    where it was, the reader resumes at its committed cursor; a clean stop leaves nothing."""
    config = write_config(runtime_dir, shm_dir, {"a": [0], "b": [0]}, params={
        "a": "{ produce_per_s = 500.0 }", "b": "{ forward = true }"})
    segment = paths.ring_segment("itest", "data")
    proc = start_daemon(config, runtime_dir)
    ready = wait_ready(shm_dir, {"a", "b", "sidecar"}, proc)
    _until(lambda: ring_stats(segment, directory=shm_dir)["cursor"] > 200)
    proc.kill()
    proc.wait(timeout=5)
    assert gone(list(ready.values()), 5.0)
    before = ring_stats(segment, directory=shm_dir)
    again = start_daemon(config, runtime_dir)
    try:
        wait_ready(shm_dir, {"a", "b"}, again)
        _until(lambda: ring_stats(segment, directory=shm_dir)["cursor"] > before["cursor"] + 200)
        after = ring_stats(segment, directory=shm_dir)
        assert after["epoch"] == before["epoch"]  # the same ring, not a new one
        assert after["readers"][0]["cursor"] >= before["readers"][0]["cursor"]
        assert after["readers"][0]["lost"] == 0
    finally:
        assert stop(again) == 0
    assert not list(shm_dir.iterdir())
    assert "adopted_rings" in (runtime_dir / "daemon.log").read_text()


def _until(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)



# -- regressions found by the chaos run: engines killed mid-batch ------------------------------

EXEC_RINGS = {"ticks": ("tick", "overwrite", 64), "decisions": ("decision", "block", 256),
              "fills": ("fill", "block", 256)}
EXECUTION = "engines.execution:ExecutionEngine"


class _Killed(Exception):
    """Stands for a SIGKILL at one point of an engine's poll."""


def _decisions(n: int) -> np.ndarray:
    rows = np.zeros(n, DECISION)
    rows["order_id"] = (1 << 40) | np.arange(1, n + 1, dtype=np.uint64)
    rows["strategy_id"], rows["side"], rows["type"], rows["tif"] = 1, 1, TYPE_LIMIT, TIF_IOC
    rows["qty"], rows["price"], rows["verdict"] = 100, 100.01, VERDICT_APPROVED
    return rows


def _feed(h: Harness, n: int) -> None:
    tick = np.zeros(1, TICK)
    tick["seq"], tick["bid"], tick["ask"], tick["bid_size"], tick["ask_size"] = (
        1, 99.99, 100.01, 500, 500)
    h.writer("ticks").write(tick)
    h.writer("decisions").write(_decisions(n))


def _crash(h: Harness, eng: Engine) -> None:
    """Drop the engine like a SIGKILL would: no drain, no flush; its ring cursors stay as
    committed (only what it advanced)."""
    h.contexts.remove(eng.ctx)
    for reader in eng.ctx.readers.values():
        stats = ring_stats(reader.name, directory=reader.segment.path.parent)
        reader._st[0] = stats["readers"][reader.index]["cursor"]  # forget what read_one() lent
    eng.ctx.close()
    service = getattr(eng, "service", None)
    if service is not None:
        service.close()


def _poll(eng: Engine, until: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not until():
        assert time.monotonic() < deadline, "condition not met in time"
        eng.poll()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("n", [5, 40])
def test_execution_when_killed_before_reports_published_trades_every_order_once(
    shm_dir: Path, runtime_dir: Path, monkeypatch: pytest.MonkeyPatch, n: int
) -> None:
    """Execution killed after taking decisions but before their fills are on the ring: the
    restarted engine re-reads them and reports every approved order exactly once."""
    with Harness(shm_dir, runtime_dir, EXEC_RINGS) as h:
        fills = h.reader("fills", 1)
        first = h.engine(EXECUTION, "execution", ("ticks", "decisions"), ("fills",),
                         publish_executions=False)
        _feed(h, n)

        def killed(*_: object) -> None:
            raise _Killed
        monkeypatch.setattr(first, "_write_fills", killed)
        with pytest.raises(_Killed):
            _poll(first, lambda: False)
        _crash(h, first)
        second = h.engine(EXECUTION, "execution", ("ticks", "decisions"), ("fills",),
                          publish_executions=False)
        _poll(second, lambda: fills.available() >= n)
        for _ in range(10):
            second.poll()
        ids = [int(i) & 0xFFFF for i in fills.read(4 * n)["order_id"]]
        assert sorted(ids) == list(range(1, n + 1))
        fills.close()
        h.stop(second)


@pytest.mark.timeout(30)
def test_execution_when_killed_after_reports_published_never_fills_twice(
    shm_dir: Path, runtime_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Execution killed right after publishing fills, before anything else: the restarted
    engine re-reads those decisions and skips every one (the fills tail says they traded)."""
    with Harness(shm_dir, runtime_dir, EXEC_RINGS) as h:
        fills = h.reader("fills", 1)
        first = h.engine(EXECUTION, "execution", ("ticks", "decisions"), ("fills",),
                         publish_executions=False)
        _feed(h, 40)
        publish = first._write_fills

        def published_then_killed() -> None:
            publish()
            raise _Killed
        monkeypatch.setattr(first, "_write_fills", published_then_killed)
        with pytest.raises(_Killed):
            _poll(first, lambda: False)
        first.hwm.arrays["high_water"][:] = 0  # as if the marks never reached the file
        _crash(h, first)
        second = h.engine(EXECUTION, "execution", ("ticks", "decisions"), ("fills",),
                          publish_executions=False)
        for _ in range(50):
            second.poll()
        ids = [int(i) & 0xFFFF for i in fills.read(400)["order_id"]]
        assert sorted(ids) == list(range(1, 41))
        fills.close()
        h.stop(second)


@pytest.mark.timeout(30)
def test_positions_when_restarted_rebuilds_book_from_fills_ring(
    shm_dir: Path, runtime_dir: Path
) -> None:
    """Positions killed after reading fills: the restarted engine's book still holds every
    fill on the ring, and new fills add to it."""
    rings = {"ticks": ("tick", "overwrite", 64), "fills": ("fill", "block", 256)}
    with Harness(shm_dir, runtime_dir, rings) as h:
        entry = "engines.positions:PositionsEngine"
        first = h.engine(entry, "positions", ("fills", "ticks"), ())
        h.writer("fills").write(_fills(side=1, qty=100, n=3))
        _poll(first, lambda: first.fills.cursor == 3)
        _crash(h, first)
        second = h.engine(entry, "positions", ("fills", "ticks"), ())
        h.writer("fills").write(_fills(side=-1, qty=50, n=1))
        _poll(second, lambda: second.fills.cursor == 4)
        rows = second.book.snapshot()["positions"]
        assert [(r["strategy_id"], r["symbol_id"], r["qty"]) for r in rows] == [(1, 0, 250)]
        h.stop(second)


def _fills(side: int, qty: int, n: int) -> np.ndarray:
    rows = np.zeros(n, FILL)
    rows["strategy_id"], rows["symbol_id"], rows["side"] = 1, 0, side
    rows["qty"], rows["price"], rows["status"] = qty, 100.0, FILL_FILLED
    return rows


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_chaos_when_reexec_faults_under_load_loses_nothing_and_restarts_nothing() -> None:
    """Three re-executions of nautilusd among engine kills, under load: each keeps every
    engine's pid and restart count (and nautilusd's pid); nothing lost or doubled."""
    result = subprocess.run(
        [sys.executable, "-m", "nautilusd.chaos.run", "--duration", "20", "--kills", "7",
         "--faults", "reexec", "--seed", "2", "--json"], capture_output=True, text=True,
        timeout=140, cwd=ROOT)
    doc = json.loads(result.stdout)
    summary, rows = doc["summary"], doc["results"]
    assert result.returncode == 0, json.dumps(rows, indent=1)[-4000:]
    assert summary["orders_published"] > 0
    assert summary["orders_lost"] == summary["duplicate_fills"] == 0
    assert summary["unapproved_fills"] == summary["engines_not_recovered"] == 0
    reexecs = [r for r in rows if r["fault"] == "reexec"]
    assert len(reexecs) == 3 and all(r["recovered"] for r in reexecs)
    assert all(r["detail"]["engines_restarted"] == [] and r["detail"]["daemon_pid_kept"]
               for r in reexecs)


@pytest.mark.slow
@pytest.mark.timeout(115)
def test_chaos_when_fix_venue_among_victims_acceptor_executions_equal_fills() -> None:
    """`--venue fix`: the FIX gateway in execution's place, killed (also mid-batch) with the
    other engines and nautilusd itself, the test acceptor its own process through it all:
    nothing lost, doubled or unapproved, and the acceptor's executions equal the fills
    order by order, no order reaching it twice."""
    result = subprocess.run(
        [sys.executable, "-m", "nautilusd.chaos.run", "--duration", "25", "--kills", "8",
         "--seed", "3", "--venue", "fix", "--json"], capture_output=True, text=True,
        timeout=140, cwd=ROOT)
    doc = json.loads(result.stdout)
    summary, rows = doc["summary"], doc["results"]
    assert result.returncode == 0, json.dumps(rows, indent=1)[-4000:]
    assert set(summary) == SUMMARY_KEYS | {"venue_mismatch", "venue_unapproved",
                                           "venue_sent_twice"}
    assert summary["orders_lost"] == summary["duplicate_fills"] == 0
    assert summary["unapproved_fills"] == summary["engines_not_recovered"] == 0
    assert summary["venue_mismatch"] == summary["venue_unapproved"] == 0
    assert summary["venue_sent_twice"] == 0
    recon = next(r for r in rows if r["fault"] == "reconcile")["detail"]
    assert recon["venue_executions"] > 0 and recon["venue_alive"]
    assert any(r["fault"].startswith("sigkill") and r.get("engine") == "execution"
               for r in rows)
