"""Reconcile before READY: on a new ring set, risk, execution and positions rebuild from the
journal (each record once), and no journaled order is left without an outcome."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from engines.harness import Harness
from engines.journal import (
    KIND_DECISION,
    KIND_FILL,
    KIND_ORDER,
    Fsync,
    SegmentWriter,
    journal_records,
)
from engines.statedir import StateDir
from shm.layout import (
    DECISION,
    FILL,
    FILL_EXPIRED,
    FILL_FILLED,
    ORDER,
    REASON_STALE,
    TIF_IOC,
    VERDICT_APPROVED,
    VERDICT_REJECTED,
)
from shm.status import W_RECORDS_IN

pytestmark = pytest.mark.timeout(30)


def _oid(counter: int) -> int:
    return (1 << 40) | counter


def _orders(counters: list[int], side: int = 1, qty: int = 10) -> np.ndarray:
    orders = np.zeros(len(counters), ORDER)
    for i, c in enumerate(counters):
        orders[i] = (_oid(c), 1, 0, side, 1, TIF_IOC, 0, 500, qty, 10.0, time.time_ns() - 10**9,
                     c, 0)
    return orders


def _decisions(orders: np.ndarray, verdict: int = VERDICT_APPROVED) -> np.ndarray:
    out = np.zeros(orders.shape[0], DECISION)
    for name in ORDER.names:
        out[name] = orders[name]
    out["verdict"] = verdict
    return out


def _fills(counters: list[int], side: int, qty: int) -> np.ndarray:
    fills = np.zeros(len(counters), FILL)
    fills["order_id"] = [_oid(c) for c in counters]
    fills["strategy_id"], fills["side"], fills["status"], fills["qty"] = 1, side, FILL_FILLED, qty
    fills["ts_ns"] = np.arange(len(counters)) + 1
    return fills


def _journal(state: StateDir, *batches: tuple[int, np.ndarray]) -> None:
    writer = SegmentWriter(state, Fsync.NONE, 1 << 20, 0.05)
    for kind, records in batches:
        writer.append_many(kind, records.view(np.uint8).data, records.dtype.itemsize)
    writer.commit()
    writer.close()


def test_journal_records_when_a_batch_was_journaled_twice_keeps_each_record_once(
    tmp_path: Path,
) -> None:
    """A journal killed between its commit and its cursor's move journals the batch again:
    exact copies are one record; distinct records stay, in order."""
    state = StateDir.create(tmp_path / "state")
    fills = _fills([1, 2], 1, 5)
    _journal(state, (KIND_FILL, fills), (KIND_FILL, fills), (KIND_FILL, _fills([3], -1, 5)))
    got = journal_records(state)[KIND_FILL]
    assert got["order_id"].tolist() == [_oid(1), _oid(2), _oid(3)]


def test_risk_when_rings_are_new_takes_positions_from_the_journal_and_rejects_undecided(
    shm_dir: Path, runtime_dir: Path, tmp_path: Path
) -> None:
    """Filled = the journal's fills; an order journaled with no decision (a power cut
    between the two) is rejected stale before READY, and not decided again."""
    state = StateDir.create(tmp_path / "state")
    orders = _orders([1, 2, 3])
    _journal(state, (KIND_FILL, _fills([1, 2], 1, 10)), (KIND_DECISION, _decisions(orders[:2])),
             (KIND_ORDER, orders))
    rings = {"ticks": ("tick", "overwrite", 64), "orders": ("order", "block", 64),
             "decisions": ("decision", "block", 64), "fills": ("fill", "block", 64)}
    with Harness(shm_dir, runtime_dir, rings, state_dir=state.path) as h:
        out = h.reader("decisions", 1)
        eng = h.engine("engines.risk:RiskEngine", "risk", ("ticks", "orders", "fills"),
                       ("decisions",))
        status = eng._status()  # type: ignore[attr-defined]
        assert status["position"] == [20, 0] and status["gross"] == 20
        assert status["reconciled"]["rejected_stale"] == 1
        assert status["reconciled"]["last_order_id"] == _oid(3)
        decided = out.read(8)
        assert decided["order_id"].tolist() == [_oid(3)]
        assert decided["verdict"].tolist() == [VERDICT_REJECTED]
        assert decided["reason"].tolist() == [REASON_STALE]
        h.writer("orders").write(orders[2:])  # were it still on a ring: a duplicate
        for _ in range(5):
            eng.poll()
        assert eng.decided.duplicates == 1  # type: ignore[attr-defined]
        out.close()
        h.stop(eng)


def test_execution_when_rings_are_new_expires_approved_orders_with_no_final_report(
    shm_dir: Path, runtime_dir: Path, tmp_path: Path
) -> None:
    """Approved and journaled with no final report: FILL_EXPIRED before READY; one with its
    fill journaled, or rejected, gets nothing."""
    state = StateDir.create(tmp_path / "state")
    orders = _orders([1, 2, 3])
    decisions = np.concatenate([_decisions(orders[:2]), _decisions(orders[2:], VERDICT_REJECTED)])
    _journal(state, (KIND_FILL, _fills([1], 1, 10)), (KIND_DECISION, decisions))
    rings = {"ticks": ("tick", "overwrite", 64), "decisions": ("decision", "block", 64),
             "fills": ("fill", "block", 64)}
    with Harness(shm_dir, runtime_dir, rings, state_dir=state.path) as h:
        out = h.reader("fills", 1)
        eng = h.engine("engines.execution:ExecutionEngine", "execution", ("ticks", "decisions"),
                       ("fills",))
        reported = out.read(8)
        out.advance(reported.shape[0])
        assert reported["order_id"].tolist() == [_oid(2)]
        assert reported["status"].tolist() == [FILL_EXPIRED] and reported["qty"].tolist() == [0]
        h.writer("decisions").write(decisions[1:2])  # never traded after its expiry
        for _ in range(5):
            eng.poll()
        assert out.available() == 0
        out.close()
        h.stop(eng)


def test_positions_when_rings_are_new_books_a_replay_of_the_journal(
    shm_dir: Path, runtime_dir: Path, tmp_path: Path
) -> None:
    """A kept book that missed the last fills before a power cut is not the story: the
    journal's fills are."""
    state = StateDir.create(tmp_path / "state")
    _journal(state, (KIND_FILL, _fills([1, 2, 3], 1, 7)))
    rings = {"ticks": ("tick", "overwrite", 64), "fills": ("fill", "block", 64)}
    with Harness(shm_dir, runtime_dir, rings, state_dir=state.path) as h:
        eng = h.engine("engines.positions:PositionsEngine", "positions", ("fills", "ticks"), ())
        book = eng._get()  # type: ignore[attr-defined]
        assert [(r["symbol_id"], r["qty"]) for r in book["positions"]] == [(0, 21)]
        from engines.positions.engine import W_RECONCILED_FILLS
        assert eng.ctx.status.get(W_RECONCILED_FILLS) == 3  # in `nautilusctl status`
        h.stop(eng)


def test_positions_when_the_journal_already_holds_fills_of_the_new_rings_books_each_once(
    shm_dir: Path, runtime_dir: Path, tmp_path: Path
) -> None:
    """The journal starts first: a fill of the new ring set it journaled before positions
    started is on the ring too, and positions reads it there. Booked once, not twice."""
    state = StateDir.create(tmp_path / "state")
    new = _fills([4], 1, 7)
    new["ts_ns"] = 99
    _journal(state, (KIND_FILL, _fills([1, 2, 3], 1, 7)), (KIND_FILL, new))
    rings = {"ticks": ("tick", "overwrite", 64), "fills": ("fill", "block", 64)}
    with Harness(shm_dir, runtime_dir, rings, state_dir=state.path) as h:
        h.writer("fills").write(new)
        eng = h.engine("engines.positions:PositionsEngine", "positions", ("fills", "ticks"), ())
        deadline = time.monotonic() + 10
        while eng.ctx.status.get(W_RECORDS_IN) < 1:
            assert time.monotonic() < deadline, "positions never read the ring's fill"
            eng.poll()
            time.sleep(0.001)
        book = eng._get()  # type: ignore[attr-defined]
        assert [(r["symbol_id"], r["qty"]) for r in book["positions"]] == [(0, 28)]
        h.stop(eng)


def test_positions_when_killed_soon_after_a_journal_replay_comes_back_with_it(
    shm_dir: Path, runtime_dir: Path, tmp_path: Path
) -> None:
    """The book on disk is the previous ring set's until the replay is kept: a SIGKILL after
    reading a fill of the new rings, before the next timed save, must not bring it back."""
    state = StateDir.create(tmp_path / "state")
    rings = {"ticks": ("tick", "overwrite", 64), "fills": ("fill", "block", 64)}
    entry = "engines.positions:PositionsEngine"
    with Harness(shm_dir, runtime_dir, rings, state_dir=state.path) as h:  # the old rings
        h.writer("fills").write(_fills([1, 2, 3], 1, 7))
        eng = h.engine(entry, "positions", ("fills", "ticks"), ())
        h.stop(eng)  # its book: 21, as of cursor 3 of these rings
    _journal(state, (KIND_FILL, _fills([1, 2, 3, 4, 5], 1, 7)))  # the journal got two more
    with Harness(shm_dir, runtime_dir, rings, state_dir=state.path) as h:  # a reboot
        eng = h.engine(entry, "positions", ("fills", "ticks"), (), save_interval_s=3600.0)
        new = _fills([6], 1, 7)
        new["ts_ns"] = 99
        h.writer("fills").write(new)
        deadline = time.monotonic() + 10
        while eng.ctx.status.get(W_RECORDS_IN) < 1:
            assert time.monotonic() < deadline, "positions never read the ring's fill"
            eng.poll()
            time.sleep(0.001)
        eng.ctx.close()  # SIGKILL: no on_stop, no save
        h.contexts.remove(eng.ctx)
        eng = h.engine(entry, "positions", ("fills", "ticks"), ())
        book = eng._get()  # type: ignore[attr-defined]
        assert [(r["symbol_id"], r["qty"]) for r in book["positions"]] == [(0, 42)]
        h.stop(eng)


def test_execution_when_the_journal_holds_approvals_of_the_new_rings_leaves_them_to_trade(
    shm_dir: Path, runtime_dir: Path, tmp_path: Path
) -> None:
    """Execution starts last: an approval of this ring set the journal already holds is on
    the decisions ring too, and is traded from there, not expired as a power cut's."""
    state = StateDir.create(tmp_path / "state")
    decisions = _decisions(_orders([1, 2]))
    _journal(state, (KIND_DECISION, decisions))
    rings = {"ticks": ("tick", "overwrite", 64), "decisions": ("decision", "block", 64),
             "fills": ("fill", "block", 64)}
    with Harness(shm_dir, runtime_dir, rings, state_dir=state.path) as h:
        h.writer("decisions").write(decisions[1:2])  # order 2: decided on these rings
        out = h.reader("fills", 1)
        eng = h.engine("engines.execution:ExecutionEngine", "execution", ("ticks", "decisions"),
                       ("fills",))
        reported = out.read(8)
        out.advance(reported.shape[0])
        assert reported["order_id"].tolist() == [_oid(1)]  # only the power cut's is expired
        assert reported["status"].tolist() == [FILL_EXPIRED]
        out.close()
        h.stop(eng)


def test_risk_when_the_journal_holds_orders_of_the_new_rings_decides_them_as_usual(
    shm_dir: Path, runtime_dir: Path, tmp_path: Path
) -> None:
    """An order of this ring set the journal already holds is on the orders ring, not a
    power cut's undecided order: risk does not reject it stale at start."""
    state = StateDir.create(tmp_path / "state")
    orders = _orders([1, 2])
    _journal(state, (KIND_ORDER, orders))
    rings = {"ticks": ("tick", "overwrite", 64), "orders": ("order", "block", 64),
             "decisions": ("decision", "block", 64), "fills": ("fill", "block", 64)}
    with Harness(shm_dir, runtime_dir, rings, state_dir=state.path) as h:
        h.writer("orders").write(orders[1:2])
        out = h.reader("decisions", 1)
        eng = h.engine("engines.risk:RiskEngine", "risk", ("ticks", "orders", "fills"),
                       ("decisions",))
        early = out.read(8)
        out.advance(early.shape[0])
        assert early["order_id"].tolist() == [_oid(1)]  # rejected stale: the power cut's
        out.close()
        h.stop(eng)


# engine -> (entry, reads, writes, the input ring fed one record, its record)
_RESTARTED: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], str,
                            Callable[[], np.ndarray]]] = {
    "risk": ("engines.risk:RiskEngine", ("ticks", "orders", "fills"), ("decisions",),
             "orders", lambda: _orders([9001])),
    "execution": ("engines.execution:ExecutionEngine", ("ticks", "decisions"), ("fills",),
                  "decisions", lambda: _decisions(_orders([9001]))),
    "positions": ("engines.positions:PositionsEngine", ("fills", "ticks"), (), "fills",
                  lambda: _fills([9001], 1, 3)),
}


@pytest.mark.parametrize("engine", sorted(_RESTARTED))
@pytest.mark.parametrize("journaled", [30, 6_000])
def test_restart_when_rings_are_kept_reads_no_journal_record_however_long_it_is(
    shm_dir: Path, runtime_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    engine: str, journaled: int,
) -> None:
    """Only a new ring set is rebuilt from the journal: an engine killed and restarted on
    the kept rings (every chaos engine kill) resumes from its cursors and state files and
    reads no journal record, so a day of trading does not make its restart slower."""
    import engines.journal._replay as replay

    read = [0]
    whole = replay.read_all  # type: ignore[attr-defined]

    def counted(state: StateDir) -> Iterator[tuple[int, int, memoryview]]:
        for record in whole(state):
            read[0] += 1
            yield record

    monkeypatch.setattr(replay, "read_all", counted)
    state = StateDir.create(tmp_path / "state")
    n = journaled // 3
    counters = list(range(1, n + 1))
    orders = _orders(counters)
    _journal(state, (KIND_FILL, _fills(counters, 1, 1)), (KIND_DECISION, _decisions(orders)),
             (KIND_ORDER, orders))
    entry, reads, writes, fed, record = _RESTARTED[engine]
    rings = {"ticks": ("tick", "overwrite", 64), "orders": ("order", "block", 64),
             "decisions": ("decision", "block", 64), "fills": ("fill", "block", 64)}
    with Harness(shm_dir, runtime_dir, rings, state_dir=state.path) as h:
        eng = h.engine(entry, engine, reads, writes)  # a new ring set: the journal is read
        assert read[0] == 3 * n
        h.writer(fed).write(record())
        deadline = time.monotonic() + 10
        while eng.ctx.status.get(W_RECORDS_IN) < 1:
            assert time.monotonic() < deadline, f"{engine} never read its {fed} record"
            eng.poll()
            time.sleep(0.001)
        eng.ctx.close()  # SIGKILL: no on_stop
        h.contexts.remove(eng.ctx)
        read[0] = 0
        eng = h.engine(entry, engine, reads, writes)  # restarted on the kept rings
        assert read[0] == 0
        h.stop(eng)
