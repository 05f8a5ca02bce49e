"""Risk reads the fills ring: reservations move to filled or come back, across restarts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _poll import poll_until

from engines.harness import Harness
from shm.layout import (
    FILL,
    FILL_CANCELLED,
    FILL_EXPIRED,
    FILL_PARTIAL,
    ORDER,
    REASON_MAX_POSITION,
    REASON_OK,
    TICK,
    TIF_IOC,
)

pytestmark = pytest.mark.timeout(30)
RINGS = {"ticks": ("tick", "overwrite", 64), "orders": ("order", "block", 64),
         "decisions": ("decision", "block", 64), "fills": ("fill", "block", 64)}
RISK = "engines.risk:RiskEngine"


def _order(h: Harness, counter: int, side: int, qty: int) -> None:
    tick = np.zeros(1, TICK)
    tick["seq"], tick["bid"], tick["ask"] = counter, 9.99, 10.01
    h.writer("ticks").write(tick)
    order = np.zeros(1, ORDER)
    order[0] = ((1 << 40) | counter, 1, 0, side, 1, TIF_IOC, 0, 0, qty, 10.0, time.time_ns(),
                counter, 0)
    h.writer("orders").write(order)


def _fill(h: Harness, counter: int, side: int, status: int, qty: int, leaves: int) -> None:
    fill = np.zeros(1, FILL)
    fill["order_id"], fill["strategy_id"], fill["symbol_id"] = (1 << 40) | counter, 1, 0
    fill["side"], fill["status"], fill["qty"], fill["leaves_qty"] = side, status, qty, leaves
    h.writer("fills").write(fill)


def _start(h: Harness, **params: object) -> Any:
    return h.engine(RISK, "risk", ("ticks", "orders", "fills"), ("decisions",),
                    max_position=100, max_order_qty=100, **params)


def test_risk_when_an_ioc_order_fills_in_part_books_the_fill_and_releases_the_rest(
    shm_dir: Path, runtime_dir: Path
) -> None:
    """Approved: 80 reserved; 30 filled: position 30; the IOC rest cancelled: nothing
    reserved, and the 50 units it held are headroom again (a 70 buy is approved)."""
    with Harness(shm_dir, runtime_dir, RINGS) as h:
        out, eng = h.reader("decisions", 1), _start(h)
        _order(h, 1, 1, 80)
        poll_until(lambda: out.available() == 1, eng)
        assert eng._status()["open_buy"] == [80, 0] and eng._status()["open_orders"] == 1
        _order(h, 2, 1, 30)  # 80 + 30 > 100: refused while 80 are reserved
        poll_until(lambda: out.available() == 2, eng)
        _fill(h, 1, 1, FILL_PARTIAL, 30, 50)
        _fill(h, 1, 1, FILL_CANCELLED, 0, 0)
        poll_until(lambda: eng._status()["open_orders"] == 0, eng)
        status = eng._status()
        assert status["position"] == [30, 0] and status["open_buy"] == [0, 0]
        assert status["gross"] == 30 and status["exposure_from"] == "fills"
        _order(h, 3, 1, 70)
        poll_until(lambda: out.available() == 3, eng)
        assert out.read(3)["reason"].tolist() == [REASON_OK, REASON_MAX_POSITION, REASON_OK]
        out.close()
        h.stop(eng)


def test_risk_when_restarted_with_an_order_open_releases_it_when_its_completion_comes(
    shm_dir: Path, runtime_dir: Path
) -> None:
    """The open-order table survives a restart of risk: the expiry reported after it gives
    the reservation back."""
    with Harness(shm_dir, runtime_dir, RINGS) as h:
        out, first = h.reader("decisions", 1), _start(h)
        _order(h, 1, -1, 60)
        poll_until(lambda: out.available() == 1, first)
        _fill(h, 1, -1, FILL_PARTIAL, 10, 50)
        poll_until(lambda: first._status()["position"] == [-10, 0], first)
        h.stop(first)
        second = _start(h)
        assert second._status()["open_sell"] == [50, 0]
        _fill(h, 1, -1, FILL_EXPIRED, 0, 0)
        poll_until(lambda: second._status()["open_orders"] == 0, second)
        status = second._status()
        assert status["position"] == [-10, 0] and status["open_sell"] == [0, 0]
        out.close()
        h.stop(second)


def test_risk_when_a_fill_is_read_again_after_a_crash_books_it_once(
    shm_dir: Path, runtime_dir: Path
) -> None:
    """A crash between booking fills and moving the cursor re-reads them: fills_pos skips
    what was booked."""
    with Harness(shm_dir, runtime_dir, RINGS) as h:
        out, first = h.reader("decisions", 1), _start(h)
        _order(h, 1, 1, 40)
        poll_until(lambda: out.available() == 1, first)
        _fill(h, 1, 1, FILL_PARTIAL, 15, 25)
        poll_until(lambda: first._status()["position"] == [15, 0], first)
        first.fills._st[0] = first.fills._r[0] = 0  # the crash came before the cursor moved
        first.ctx.close()
        h.contexts.remove(first.ctx)
        second = _start(h)
        for _ in range(20):
            second.poll()
        assert second._status()["position"] == [15, 0]
        assert second._status()["open_buy"] == [25, 0]
        out.close()
        h.stop(second)


def test_risk_when_rings_are_new_releases_every_reservation_and_keeps_the_position(
    shm_dir: Path, runtime_dir: Path, tmp_path: Path
) -> None:
    """A new ring set (a daemon restart, a reboot): no venue holds an order any more; the
    filled position stays, every reservation is given back."""
    state = tmp_path / "state"
    with Harness(shm_dir, runtime_dir, RINGS, state_dir=state) as h:
        out, eng = h.reader("decisions", 1), _start(h)
        _order(h, 1, 1, 50)
        poll_until(lambda: out.available() == 1, eng)
        _fill(h, 1, 1, FILL_PARTIAL, 20, 30)
        poll_until(lambda: eng._status()["position"] == [20, 0], eng)
        out.close()
        h.stop(eng)
    with Harness(shm_dir, runtime_dir, RINGS, state_dir=state) as h:
        eng = _start(h)
        status = eng._status()
        assert status["position"] == [20, 0] and status["open_buy"] == [0, 0]
        assert status["open_orders"] == 0 and status["gross"] == 20
        h.stop(eng)


def test_risk_without_a_fills_ring_books_approvals_as_filled(
    shm_dir: Path, runtime_dir: Path
) -> None:
    """No fills ring: what was approved is the position (nothing is ever released)."""
    rings = {k: v for k, v in RINGS.items() if k != "fills"}
    with Harness(shm_dir, runtime_dir, rings) as h:
        out = h.reader("decisions", 1)
        eng = h.engine(RISK, "risk", ("ticks", "orders"), ("decisions",))
        _order(h, 1, 1, 10)
        poll_until(lambda: out.available() == 1, eng)
        status = eng._status()
        assert status["position"] == [10, 0] and status["open_buy"] == [0, 0]
        assert status["exposure_from"] == "approvals"
        out.close()
        h.stop(eng)
