"""The strategy's own position comes from its fills, never from what it sent, and survives
restarts (the state dir), new rings, and a lost file (rebuilt from the journal)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engines.harness import Harness
from engines.journal import KIND_FILL, Fsync, SegmentWriter
from engines.statedir import STARTED_MARKER, StateDir
from engines.strategy._fills import LATE_NS, OwnPosition, filled_from_journal, own_layout
from shm.layout import (
    FILL,
    FILL_CANCELLED,
    FILL_FILLED,
    FILL_PARTIAL,
    ORDER,
    TICK,
)

pytestmark = pytest.mark.timeout(30)
RINGS = {"ticks": ("tick", "overwrite", 64), "orders": ("order", "block", 64),
         "fills": ("fill", "block", 64)}
STRATEGY = "engines.strategy:StrategyEngine"


def _sent(oid: int, sym: int, side: int, qty: int, ts: int = 0, ttl_ms: int = 100) -> bytes:
    order = np.zeros(1, ORDER)
    order[0] = (oid, 1, sym, side, 1, 1, 0, ttl_ms, qty, 10.0, ts, 0, 0)
    return order.tobytes()


def _own() -> tuple[OwnPosition, np.ndarray, dict[str, np.ndarray]]:
    position = np.zeros(2, dtype=np.int64)
    arrays = {k: np.zeros(n, dtype=dt) for k, (dt, n) in own_layout(2).items()}
    return OwnPosition(1, position, arrays, 500_000_000), position, arrays


def test_own_position_when_an_ioc_order_fills_in_part_counts_only_the_fill() -> None:
    """Sent 100 (the signal counts it in flight), 30 filled, the rest cancelled: 30."""
    own, position, arrays = _own()
    position[0] += 100  # what the signal adds as it sends
    own.sent(_sent(7, 0, 1, 100))
    own.on_fill(7, 1, 0, 1, FILL_PARTIAL, 30)
    assert position.tolist() == [100, 0] and arrays["filled"].tolist() == [30, 0]
    own.on_fill(7, 1, 0, 1, FILL_CANCELLED, 0)
    assert position.tolist() == [30, 0] and not own.open


def test_own_position_when_orders_are_followed_as_a_batch_follows_each_as_one_by_one() -> None:
    """sent_batch (the ring's history) records what sent does for each order: its symbol,
    signed quantity and time to live (its own, or the default when 0)."""
    rows = [(3, 0, 1, 40, 1_000, 100), (4, 1, -1, 25, 2_000, 0), (5, 0, -1, 7, 3_000, 250)]
    sent = [_sent(oid, sym, side, qty, ts=ts, ttl_ms=ttl) for oid, sym, side, qty, ts, ttl in rows]
    one, _, _ = _own()
    for order in sent:
        one.sent(order)
    batch, _, _ = _own()
    every_other = np.frombuffer(b"".join(o for order in sent for o in (order, order)), ORDER)
    batch.sent_batch(every_other[::2])  # a strided view, as a ring's history can be
    assert batch.open == one.open == {
        3: [0, 40, 1_000 + 100_000_000], 4: [1, -25, 2_000 + 500_000_000],
        5: [0, -7, 3_000 + 250_000_000]}


def test_own_position_when_an_order_gets_no_report_takes_it_out_after_its_ttl() -> None:
    """A rejected order (risk said no: execution reports nothing) leaves the position once
    it can no longer trade; another strategy's fills are not ours."""
    own, position, _arrays = _own()
    position[1] -= 50
    own.sent(_sent(8, 1, -1, 50, ts=1_000, ttl_ms=100))
    own.on_fill(9, 2, 1, -1, FILL_FILLED, 50)  # strategy 2's
    own.expire(1_000 + 100_000_000 + LATE_NS)
    assert position.tolist() == [0, -50]
    own.expire(1_000 + 100_000_000 + LATE_NS + 1)
    assert position.tolist() == [0, 0]


def test_own_position_when_restarted_starts_from_filled_and_books_later_fills() -> None:
    """A restart forgets what was in flight (position = filled); a fill of an order sent
    before it still moves both."""
    own, position, arrays = _own()
    position[0] += 10
    own.sent(_sent(1, 0, 1, 10))
    own.on_fill(1, 1, 0, 1, FILL_FILLED, 10)
    again = OwnPosition(1, np.zeros(2, dtype=np.int64), arrays, 500_000_000)
    assert again.position.tolist() == [10, 0]
    again.on_fill(2, 1, 0, -1, FILL_FILLED, 4)
    assert again.position.tolist() == [6, 0] and arrays["filled"].tolist() == [6, 0]


def _tick(h: Harness, seq: int) -> None:
    tick = np.zeros(1, TICK)
    tick["seq"], tick["ts_ns"], tick["bid"], tick["ask"] = seq, time.time_ns(), 9.99, 10.01
    h.writer("ticks").write(tick)


def _fill(h: Harness, counter: int, side: int, qty: int, strategy_id: int = 1) -> None:
    fill = np.zeros(1, FILL)
    fill["order_id"], fill["strategy_id"] = (strategy_id << 40) | counter, strategy_id
    fill["side"], fill["status"], fill["qty"] = side, FILL_FILLED, qty
    h.writer("fills").write(fill)


def _until(cond: Any, eng: Any, h: Harness, timeout_s: float = 10.0) -> None:
    deadline, seq = time.monotonic() + timeout_s, 1
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        _tick(h, seq)  # a tick is decided first: its poll does not book the fills
        seq += 1
        eng.poll()
        eng.poll()  # idle (the tick is read): fills are booked here, off the order path
        time.sleep(0.001)


def _start(h: Harness) -> Any:
    return h.engine(STRATEGY, "strategy", ("ticks", "fills"), ("orders",), strategy_id=1,
                    threshold_bps=1e6)  # no order of its own: the fills alone move it


def test_strategy_when_fills_come_books_them_and_keeps_them_across_restarts(
    shm_dir: Path, runtime_dir: Path, tmp_path: Path
) -> None:
    """Its own fills (not another strategy's) are its position; a restart on the same rings
    and one on new rings (a reboot) both come back with it."""
    state = tmp_path / "state"
    with Harness(shm_dir, runtime_dir, RINGS, state_dir=state) as h:
        eng = _start(h)
        _fill(h, 1, 1, 30)
        _fill(h, 2, -1, 500, strategy_id=2)
        _until(lambda: eng.signal.position.tolist() == [30, 0], eng, h)
        h.stop(eng)
        eng = _start(h)
        assert eng.signal.position.tolist() == [30, 0]
        _fill(h, 3, -1, 10)
        _until(lambda: eng.signal.position.tolist() == [20, 0], eng, h)
        h.stop(eng)
    with Harness(shm_dir, runtime_dir, RINGS, state_dir=state) as h:
        eng = _start(h)
        assert eng.signal.position.tolist() == [20, 0]
        h.stop(eng)


def test_strategy_when_its_position_file_is_lost_rebuilds_it_from_the_journal(
    shm_dir: Path, runtime_dir: Path, tmp_path: Path
) -> None:
    """Missing once a daemon was ready: the journal's fills of this strategy are replayed;
    with no journal it refuses to start rather than size on a made-up position."""
    from engines.errors import StateError

    state = StateDir.create(tmp_path / "state")
    with Harness(shm_dir, runtime_dir, RINGS, state_dir=state.path) as h:
        h.stop(_start(h))
    state.write_atomic(STARTED_MARKER, b"1\n")
    state.unlink("strategy.position")
    for _attempt in range(2):  # refused again: a refusal leaves no zeroed file behind
        with Harness(shm_dir, runtime_dir, RINGS, state_dir=state.path) as h, \
                pytest.raises(StateError, match=r"strategy\.position"):
            _start(h)
    fills = np.zeros(3, FILL)
    fills["strategy_id"], fills["symbol_id"] = [1, 1, 2], [1, 1, 1]
    fills["side"], fills["status"], fills["qty"] = [1, -1, 1], FILL_FILLED, [70, 20, 999]
    writer = SegmentWriter(state, Fsync.NONE, 1 << 20, 0.05)
    writer.append_many(KIND_FILL, fills.view(np.uint8).data, FILL.itemsize)
    writer.commit()
    writer.close()
    assert filled_from_journal(state, 1, 2) is not None
    with Harness(shm_dir, runtime_dir, RINGS, state_dir=state.path) as h:
        eng = _start(h)
        assert eng.signal.position.tolist() == [0, 50]
        h.stop(eng)
