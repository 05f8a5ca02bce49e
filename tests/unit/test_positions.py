"""Positions and P&L: average cost, realised on reduction, flips, marks."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engines.harness import Harness
from engines.positions._book import Position, PositionBook
from engines.positions.engine import read_snapshot
from engines.service import ServiceClient, service_endpoint
from shm.layout import FILL


def test_apply_when_adding_averages_the_price() -> None:
    """Two buys average their prices weighted by quantity."""
    p = Position()
    p.apply(1, 100, 10.0)
    p.apply(1, 300, 14.0)
    assert (p.qty, p.avg_price, p.realised) == (400, 13.0, 0.0)


def test_apply_when_reducing_realises_pnl_and_keeps_average() -> None:
    """Selling part of a long realises (price - avg) * qty and keeps the average."""
    p = Position()
    p.apply(1, 100, 10.0)
    p.apply(-1, 40, 12.0)
    assert (p.qty, p.avg_price, p.realised) == (60, 10.0, pytest.approx(80.0))


def test_apply_when_flipping_opens_rest_at_fill_price() -> None:
    """A sell larger than the long closes it and opens a short at the fill price."""
    p = Position()
    p.apply(1, 100, 10.0)
    p.apply(-1, 150, 9.0)
    assert (p.qty, p.avg_price, p.realised) == (-50, 9.0, pytest.approx(-100.0))


def test_totals_when_marked_equals_cash_plus_position_value() -> None:
    """Realised + unrealised equals cash flows plus position times mark (any sequence)."""
    book = PositionBook(("A", "B"))
    fills = [(1, 0, 1, 10, 5.0), (1, 0, -1, 4, 6.0), (2, 0, -1, 7, 5.5), (1, 1, 1, 3, 20.0),
             (1, 0, -1, 10, 4.0), (2, 0, 1, 7, 5.0)]
    for f in fills:
        book.on_fill(*f)
    book.on_mark(0, 4.5, 1)
    book.on_mark(1, 21.0, 2)
    cash = sum(-side * qty * px for _, _, side, qty, px in fills)
    value = sum(p.qty * book.marks[sym] for (_, sym), p in book.positions.items())
    realised, unrealised = book.totals()
    assert realised + unrealised == pytest.approx(cash + value)
    assert book.snapshot()["pnl"] == pytest.approx(cash + value)


def test_on_fill_when_zero_quantity_report_changes_nothing() -> None:
    """Cancel reports (qty 0) do not create or move positions."""
    book = PositionBook(("A",))
    book.on_fill(1, 0, 1, 0, 0.0)
    assert book.positions == {} and book.fills_applied == 0


def test_snapshot_when_no_mark_yet_unrealised_is_zero() -> None:
    """An unmarked symbol contributes no unrealised P&L and shows a NaN mark."""
    book = PositionBook(("A",))
    book.on_fill(1, 0, 1, 5, 2.0)
    snap = book.snapshot(strategy_id=1)
    assert snap["unrealised"] == 0.0 and math.isnan(snap["positions"][0]["mark"])


@pytest.mark.timeout(30)
def test_engine_when_fills_read_answers_positions_get_and_writes_snapshot(
    shm_dir: Path, runtime_dir: Path
) -> None:
    """positions.get over the service and the snapshot file both show the filled position."""
    rings = {"ticks": ("tick", "overwrite", 64), "fills": ("fill", "block", 64)}
    with Harness(shm_dir, runtime_dir, rings) as h:
        eng = h.engine("engines.positions:PositionsEngine", "positions", ("fills", "ticks"),
                       (), snapshot_file="pos.json", snapshot_interval_s=0.05)
        fill = np.zeros(2, FILL)
        fill["strategy_id"], fill["symbol_id"], fill["side"] = 1, 0, [1, -1]
        fill["qty"], fill["price"] = [10, 4], [5.0, 6.0]
        h.writer("fills").write(fill)
        reply: dict[str, Any] = {}
        client = ServiceClient(service_endpoint(runtime_dir, "positions"), timeout_ms=5_000)
        worker = threading.Thread(target=lambda: reply.update(
            client.call("positions.get", strategy_id=1)))
        worker.start()
        deadline = time.monotonic() + 10
        while worker.is_alive() or not (runtime_dir / "pos.json").exists():
            assert time.monotonic() < deadline, "no reply or no snapshot"
            eng.poll()
            time.sleep(0.001)
        client.close()
        h.stop(eng)
    assert reply["positions"][0]["qty"] == 6 and reply["realised"] == pytest.approx(4.0)
    snap = read_snapshot(runtime_dir / "pos.json")
    assert snap["fills_applied"] == 2 and snap["fills_read"] == 2
