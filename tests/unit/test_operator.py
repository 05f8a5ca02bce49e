"""Operators at the simulated venue (engines.execution._operator): the reserved amend id
range, and execution's `orders`, `cancel` and `replace` replies over real rings with risk."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _poll import poll_until
from hypothesis import given, settings
from hypothesis import strategies as st

from engines.errors import ServiceError
from engines.execution._amends import AMEND_READ
from engines.execution._operator import (
    OPERATOR_BIT,
    OperatorIds,
    fold_reports,
    is_operator,
)
from engines.execution._orders import OrderManager, VenueParams
from engines.harness import Harness
from engines.records import COUNTER_BITS, COUNTER_MASK
from engines.service import ServiceClient, service_endpoint
from shm.layout import (
    AMEND,
    AMEND_CANCEL,
    AMEND_REPLACE,
    DECISION,
    FILL,
    FILL_ACCEPTED,
    FILL_AMEND_REJECTED,
    FILL_CANCELLED,
    FILL_FILLED,
    FILL_PARTIAL,
    FILL_REPLACED,
    ORDER,
    TICK,
    TIF_DAY,
    TIF_IOC,
    VERDICT_APPROVED,
)

SID = 1 << COUNTER_BITS


def _amend_row(amend_id: int, order_id: int, strategy_id: int = 1) -> tuple[Any, ...]:
    a = np.zeros(1, AMEND)
    a["amend_id"], a["order_id"], a["strategy_id"], a["action"] = amend_id, order_id, \
        strategy_id, AMEND_CANCEL
    a["verdict"] = VERDICT_APPROVED
    return AMEND_READ.struct.unpack(a.tobytes())


def test_operator_ids_when_clock_steps_back_still_increase_and_carry_the_bit() -> None:
    clock = iter([1_000, 1_000, 5, 5, 2_000])
    ids = OperatorIds(clock_ms=lambda: next(clock))
    got = [ids.next(3) for _ in range(5)]
    assert all(a >> COUNTER_BITS == 3 and is_operator(a) for a in got)
    counters = [a & (OPERATOR_BIT - 1) for a in got]
    assert counters == [1_000, 1_001, 1_002, 1_003, 2_000]
    again = OperatorIds.after([SID | 7, *got], clock_ms=lambda: 0)  # a restart, clock behind
    assert again.next(1) & (OPERATOR_BIT - 1) == 2_001


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 3)), max_size=60))
def test_amend_marks_when_operator_and_strategy_ids_interleave_neither_drops_the_other(
        steps: list[tuple[bool, int]]) -> None:
    """Strategy amends (counters 1, 2, ...) and operator amends (OperatorIds), in any
    interleaving and with repeats: every new id is applied once, every repeat is a duplicate
    (the old single mark took an operator id as a counter above every strategy's)."""
    om = OrderManager(VenueParams(), [0] * 4)
    amends, out = om.amends, []
    ids, strategy_n, sent, expected_dup = OperatorIds(clock_ms=lambda: 0), 0, [], 0
    for operator, repeat in steps:
        if operator:
            amend_id = ids.next(1)
        else:
            strategy_n += 1
            amend_id = SID | strategy_n
        assert is_operator(amend_id) == operator
        for i in range(repeat):
            amends.on_amend(_amend_row(amend_id, SID | 99), 1, out)
            expected_dup += i > 0
        sent.append(amend_id)
    assert amends.duplicates == expected_dup
    assert len(out) == len(sent)  # each one answered (unknown order: amend rejected) once
    assert all(r[6] == FILL_AMEND_REJECTED for r in out)


def test_fold_reports_follows_the_state_table_and_the_routed_venues() -> None:
    f = np.zeros(5, FILL)
    f["order_id"] = [SID | 1, SID | 1, SID | 1, SID | 2, SID | 1]
    f["status"] = [FILL_ACCEPTED, FILL_REPLACED, FILL_PARTIAL, FILL_FILLED, FILL_CANCELLED]
    f["qty"], f["leaves_qty"] = [0, 0, 30, 50, 0], [100, 80, 50, 0, 0]
    f["price"] = [99.0, 99.5, 99.5, 100.0, 0.0]
    f["venue_id"] = [1, 1, 2, 0, 2]
    got = fold_reports(f)
    one, two = got[SID | 1], got[SID | 2]
    assert (one.state.value, one.filled, one.leaves, one.qty, one.price, one.venues) == (
        "cancelled", 30, 0, 80, 99.5, [1, 2])
    assert (two.state.value, two.filled, two.leaves, two.qty) == ("filled", 50, 0, 50)


RINGS = {"ticks_r": ("tick", "overwrite", 64), "ticks_x": ("tick", "overwrite", 64),
         "orders": ("order", "block", 64), "amends": ("amend", "block", 64),
         "op_amends": ("amend", "block", 64), "decisions": ("decision", "block", 64),
         "amend_decisions": ("amend", "block", 64), "fills": ("fill", "block", 64)}


def _order(counter: int, price: float, qty: int = 100) -> np.ndarray:
    o = np.zeros(1, ORDER)
    o["order_id"], o["strategy_id"], o["side"], o["type"], o["tif"] = SID | counter, 1, 1, 1, \
        TIF_DAY
    o["qty"], o["price"], o["ts_ns"], o["ttl_ms"] = qty, price, time.time_ns(), 60_000
    return o


@pytest.mark.timeout(60)
def test_execution_service_when_operator_replaces_and_cancels_goes_through_risk(
        shm_dir: Path, runtime_dir: Path) -> None:
    """Two DAY orders rest; `replace` of one to the ask fills it, `cancel` of the other ends
    it, both as operator AMEND requests on the ring execution writes, decided by risk; a
    strategy's own amend (counter 3) after them is still applied; `orders` shows each
    order's state, venue, filled and open quantity; a finished or unknown order is named."""
    with Harness(shm_dir, runtime_dir, RINGS) as h:
        fills, op_seen = h.reader("fills", 1), h.reader("op_amends", 1)
        risk = h.engine("engines.risk:RiskEngine", "risk",
                        ("ticks_r", "orders", "amends", "op_amends"),
                        ("decisions", "amend_decisions"), wake_on_ticks=True)
        execution: Any = h.engine(
            "engines.execution:ExecutionEngine", "execution",
            ("ticks_x", "decisions", "amend_decisions"), ("fills", "op_amends"),
            publish_executions=False, wake_on_ticks=True)
        engines = [risk, execution]
        tick = np.zeros(1, TICK)
        tick["seq"], tick["bid"], tick["ask"], tick["bid_size"], tick["ask_size"] = \
            1, 99.99, 100.01, 300, 300
        h.writer("ticks_r").write(tick)
        h.writer("ticks_x").write(tick)
        h.writer("orders").write(np.concatenate([_order(1, 99.8), _order(2, 99.7),
                                                 _order(3, 99.6)]))
        poll_until(lambda: fills.available() >= 3, *engines)
        rows = {r["order_id"]: r for r in execution._svc_orders(open=True)}
        assert sorted(rows) == [SID | 1, SID | 2, SID | 3]
        assert rows[SID | 1]["state"] == "accepted" and rows[SID | 1]["leaves"] == 100
        assert rows[SID | 1]["venue"] == "execution" and rows[SID | 1]["open"]

        rep = execution._svc_replace(order_id=SID | 1, qty=80, price=100.01)
        can = execution._svc_cancel(order_id=SID | 2)
        assert rep["action"] == "replace" and can["action"] == "cancel"
        assert is_operator(rep["amend_id"]) and is_operator(can["amend_id"])
        assert rep["amend_id"] >> COUNTER_BITS == 1
        strategy_amend = np.zeros(1, AMEND)
        strategy_amend["amend_id"], strategy_amend["order_id"] = SID | 3, SID | 3
        strategy_amend["strategy_id"], strategy_amend["action"] = 1, AMEND_CANCEL
        strategy_amend["ts_ns"] = time.time_ns()
        h.writer("amends").write(strategy_amend)  # after the operators': still applied
        poll_until(lambda: fills.available() >= 7, *engines)
        got = fills.read(16)
        tail = list(zip(got["order_id"].tolist(), got["status"].tolist(), strict=True))[3:]
        assert sorted(tail) == sorted([(SID | 1, FILL_REPLACED), (SID | 1, FILL_FILLED),
                                       (SID | 2, FILL_CANCELLED), (SID | 3, FILL_CANCELLED)])
        written = op_seen.read(8)
        assert written["action"].tolist() == [AMEND_REPLACE, AMEND_CANCEL]
        assert (written["amend_id"] & COUNTER_MASK & OPERATOR_BIT).all()

        states = {r["order_id"]: r for r in execution._svc_orders()}
        assert (states[SID | 1]["state"], states[SID | 1]["filled"], states[SID | 1]["qty"],
                states[SID | 1]["leaves"]) == ("filled", 80, 80, 0)
        assert states[SID | 2]["state"] == "cancelled" and not states[SID | 2]["open"]
        assert execution._svc_orders(open=True) == []
        with pytest.raises(ServiceError, match=f"order_id={SID | 2} is not an open order of "
                           "execution.*cancelled") as err:
            execution._svc_cancel(order_id=SID | 2)
        assert err.value.code == "NOT_OPEN"
        with pytest.raises(ServiceError, match=r"order_id=12345 .*unknown here"):
            execution._svc_replace(order_id=12345, qty=1, price=100.0)
        fills.close()
        op_seen.close()
        h.stop(execution)
        h.stop(risk)


ROUTED_RINGS = {"ticks_x": ("tick", "overwrite", 64), "decisions": ("decision", "block", 64),
                "fills": ("fill", "block", 64)}


def _decision(counter: int, qty: int, price: float, tif: int) -> np.ndarray:
    d = np.zeros(1, DECISION)
    d["order_id"], d["strategy_id"], d["side"], d["type"], d["tif"] = SID | counter, 1, 1, 1, tif
    d["qty"], d["price"], d["ts_ns"], d["verdict"] = qty, price, time.time_ns(), VERDICT_APPROVED
    d["ttl_ms"] = 60_000
    return d


@pytest.mark.timeout(60)
def test_execution_orders_when_routed_show_the_parent_and_its_childrens_venues(
        shm_dir: Path, runtime_dir: Path) -> None:
    """With a router: a DAY bid under the touch rests whole at lit_a; an IOC bid for more
    than one venue shows is split over lit_a and lit_b and filled; `orders` names the parent
    (execution) and each child's venue; no amends ring: a cancel is refused saying so."""
    with Harness(shm_dir, runtime_dir, ROUTED_RINGS) as h:
        fills = h.reader("fills", 1)
        venues = {"lit_a": {"kind": "simulated", "display_fraction": 0.5},
                  "lit_b": {"kind": "simulated", "display_fraction": 0.5}}
        execution: Any = h.engine(
            "engines.execution:ExecutionEngine", "execution", ("ticks_x", "decisions"),
            ("fills",), publish_executions=False, wake_on_ticks=True,
            route=["lit_a", "lit_b"], venues=venues)
        tick = np.zeros(1, TICK)
        tick["seq"], tick["bid"], tick["ask"], tick["bid_size"], tick["ask_size"] = \
            1, 99.99, 100.01, 300, 300
        h.writer("ticks_x").write(tick)
        h.writer("decisions").write(_decision(1, 100, 99.5, TIF_DAY))
        poll_until(lambda: any(r["order_id"] == SID | 1 and r["venues"]
                               for r in execution._svc_orders()), execution)
        h.writer("decisions").write(_decision(2, 250, 100.01, TIF_IOC))
        poll_until(lambda: any(r["order_id"] == SID | 2 and r["state"] == "filled"
                               for r in execution._svc_orders()), execution)
        rows = {r["order_id"]: r for r in execution._svc_orders()}
        day, ioc = rows[SID | 1], rows[SID | 2]
        assert (day["state"], day["open"], day["venue"], day["venues"], day["parent"],
                day["leaves"], day["price"]) == ("accepted", True, "lit_a", ["lit_a"],
                                                 "execution", 100, 99.5)
        assert (ioc["filled"], ioc["leaves"], ioc["open"], sorted(ioc["venues"])) == (
            250, 0, False, ["lit_a", "lit_b"])
        assert ioc["venue"] in ("lit_a+lit_b", "lit_b+lit_a")
        assert [r["order_id"] for r in execution._svc_orders(open=True)] == [SID | 1]
        with pytest.raises(ServiceError, match="writes no amend ring") as err:
            execution._svc_cancel(order_id=SID | 1)
        assert err.value.code == "NO_AMENDS_RING"
        fills.close()
        h.stop(execution)


@pytest.mark.timeout(60)
def test_execution_orders_when_decisions_never_stop_is_answered_between_busy_polls(
        shm_dir: Path, runtime_dir: Path) -> None:
    """A decision waits at every poll (execution never idles): an operator's `orders` is
    still answered, between two busy polls once overdue (Engine.overdue_ns)."""
    with Harness(shm_dir, runtime_dir, ROUTED_RINGS) as h:
        # every other reader slot of the rings kept up: never full
        kept = [h.reader("fills", 0), h.reader("fills", 1), h.reader("decisions", 1)]
        execution: Any = h.engine("engines.execution:ExecutionEngine", "execution",
                                  ("ticks_x", "decisions"), ("fills",),
                                  publish_executions=False, wake_on_ticks=True)
        tick = np.zeros(1, TICK)
        tick["seq"], tick["bid"], tick["ask"], tick["bid_size"], tick["ask_size"] = \
            1, 99.99, 100.01, 10**9, 10**9
        h.writer("ticks_x").write(tick)
        decisions, reply, counter = h.writer("decisions"), [], 0
        with ServiceClient(service_endpoint(runtime_dir, "execution"), timeout_ms=20_000) as c:
            worker = threading.Thread(target=lambda: reply.append(c.call("orders")))
            worker.start()
            deadline = time.monotonic() + 30
            while worker.is_alive() and time.monotonic() < deadline:
                counter += 1
                decisions.write(_decision(counter, 1, 100.01, TIF_IOC))
                assert h.poll(execution) > 0  # never an idle poll
                for reader in kept:
                    reader.advance(reader.available())
            worker.join(5)
        assert len(reply) == 1 and isinstance(reply[0], list), f"not answered in {counter} polls"
        for ring in (decisions, *kept):
            ring.close()
        h.stop(execution)
