"""The FIX gateway engine over real rings against the test acceptor, a separate process on
loopback (python -m engines.fix.acceptor): the order lifecycle, the acceptor's executions
equal to the reports order by order, and the session faults (acceptor killed and restarted,
a sequence gap, a duplicate ExecutionReport)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engines.harness import Harness
from shm.layout import (
    AMEND,
    AMEND_CANCEL,
    AMEND_REPLACE,
    DECISION,
    FILL_ACCEPTED,
    FILL_CANCELLED,
    FILL_FILLED,
    FILL_PARTIAL,
    FILL_REJECTED,
    FILL_REPLACED,
    REASON_VENUE_DOWN,
    TIF_DAY,
    TIF_IOC,
    VERDICT_APPROVED,
)

pytestmark = pytest.mark.timeout(90)
SID = 1 << 40
RINGS = {"decisions": ("decision", "block", 256), "amend_decisions": ("amend", "block", 64),
         "fills": ("fill", "block", 1024)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Acceptor:
    def __init__(self, port: int, workdir: Path, *extra: str) -> None:
        self.port, self.dir, self.extra = port, workdir, extra
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *extra: str) -> None:
        (self.dir / "listening").unlink(missing_ok=True)
        self.proc = subprocess.Popen([sys.executable, "-m", "engines.fix.acceptor", "--port",
                                      str(self.port), "--dir", str(self.dir), *self.extra,
                                      *extra], cwd=Path(__file__).resolve().parents[2])
        _until(lambda: (self.dir / "listening").exists(), what="acceptor listening")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def executions(self) -> list[dict[str, Any]]:
        path = self.dir / "executions.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []

    def orders(self) -> list[str]:
        path = self.dir / "orders.jsonl"
        return [json.loads(x)["cl_ord_id"] for x in path.read_text().splitlines()] \
            if path.exists() else []


@pytest.fixture
def acceptor(tmp_path: Path) -> Iterator[Acceptor]:
    (tmp_path / "venue").mkdir()
    a = Acceptor(_free_port(), tmp_path / "venue", "--max-fill", "60")
    yield a
    a.kill()


def _until(cond: Any, engine: Any = None, timeout_s: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, f"not in time: {what}"
        if engine is not None:
            engine.poll()
        time.sleep(0.002)


def _decisions(counters: list[int], tif: int, price: float, qty: int = 100) -> np.ndarray:
    d = np.zeros(len(counters), DECISION)
    d["order_id"] = [SID | c for c in counters]
    d["strategy_id"], d["side"], d["type"], d["tif"], d["qty"] = 1, 1, 1, tif, qty
    d["price"], d["ts_ns"], d["verdict"] = price, time.time_ns(), VERDICT_APPROVED
    d["decided_ts_ns"] = time.time_ns()
    return d


def _amend(counter: int, order: int, action: int, qty: int = 0, price: float = 0.0
           ) -> np.ndarray:
    a = np.zeros(1, AMEND)
    a["amend_id"], a["order_id"], a["strategy_id"], a["action"] = SID | counter, SID | order, 1, \
        action
    a["side"], a["qty"], a["price"], a["verdict"] = 1, qty, price, VERDICT_APPROVED
    return a


def _gateway(h: Harness, port: int) -> Any:
    return h.engine("engines.fix:FixGatewayEngine", "fixgw", ("decisions", "amend_decisions"),
                    ("fills",), symbols=("AAPL", "MSFT"), port=port, heartbeat_s=5,
                    reconnect_ms=50.0)


def _fills_of(reader: Any, got: list[np.ndarray]) -> np.ndarray:
    n = reader.available()
    if n:
        got.append(reader.read(n).copy())
        reader.advance(n)
    return np.concatenate(got) if got else np.zeros(0, reader.dtype)


def gw_dups() -> int:
    from engines.fix.engine import W_DUP_REPORTS

    return W_DUP_REPORTS


def _matches(acceptor: Acceptor, fills: np.ndarray) -> None:
    """The acceptor's executions are the reports with a quantity, order by order."""
    traded = fills[fills["qty"] > 0]
    venue = sorted((e["order_id"], e["qty"], e["price"]) for e in acceptor.executions())
    ours = sorted(zip(traded["order_id"].tolist(), traded["qty"].tolist(),
                      traded["price"].tolist(), strict=True))
    assert venue == ours


def test_gateway_when_orders_sent_reports_ack_partial_fill_replace_cancel(
        acceptor: Acceptor, shm_dir: Path, runtime_dir: Path) -> None:
    """IOC 100 at the ask: acknowledged, 60 traded, 40 cancelled. DAY 100 below the market:
    acknowledged, replaced to 60 at the ask and filled. DAY 50: acknowledged, cancelled. The
    acceptor's executions equal the reports' fills, and the gateway is ready while up."""
    acceptor.start()
    with Harness(shm_dir, runtime_dir, RINGS) as h:
        reader, got = h.reader("fills", 1), []
        gw = _gateway(h, acceptor.port)
        _until(lambda: gw.session.up, gw, what="logon")
        h.writer("decisions").write(np.concatenate([
            _decisions([1], TIF_IOC, 100.01), _decisions([2], TIF_DAY, 99.0),
            _decisions([3], TIF_DAY, 98.0, qty=50)]))
        _until(lambda: len(_fills_of(reader, got)) >= 5, gw, what="first reports")
        h.writer("amend_decisions").write(np.concatenate([
            _amend(4, 2, AMEND_REPLACE, qty=60, price=100.01), _amend(5, 3, AMEND_CANCEL)]))
        _until(lambda: len(_fills_of(reader, got)) >= 8, gw, what="amend reports")
        fills = _fills_of(reader, got)
        by = {c: [s for o, s in zip(fills["order_id"].tolist(), fills["status"].tolist(),
                                    strict=True) if o == SID | c] for c in (1, 2, 3)}
        assert by[1] == [FILL_ACCEPTED, FILL_PARTIAL, FILL_CANCELLED]
        assert by[2] == [FILL_ACCEPTED, FILL_REPLACED, FILL_FILLED]
        assert by[3] == [FILL_ACCEPTED, FILL_CANCELLED]
        _matches(acceptor, fills)
        assert gw.ctx.status.words[4] == 1  # ready while the session is up
        reader.close()
        h.stop(gw)


def test_gateway_when_acceptor_killed_rejects_while_down_and_sends_nothing_twice(
        acceptor: Acceptor, shm_dir: Path, runtime_dir: Path) -> None:
    """Acceptor killed: the gateway is not ready, an order meanwhile is answered
    REASON_VENUE_DOWN and never reaches the venue; restarted (its sequence numbers kept): the
    session is back, later orders trade, no ClOrdID reached the venue twice, and the fills
    equal the venue's executions."""
    acceptor.start()
    with Harness(shm_dir, runtime_dir, RINGS) as h:
        reader, got = h.reader("fills", 1), []
        gw = _gateway(h, acceptor.port)
        _until(lambda: gw.session.up, gw, what="logon")
        h.writer("decisions").write(_decisions([1, 2], TIF_IOC, 100.01, qty=50))
        _until(lambda: len(_fills_of(reader, got)) >= 4, gw, what="first fills")
        acceptor.kill()
        _until(lambda: not gw.session.up, gw, what="session down")
        assert gw.ctx.status.words[4] == 0  # not ready while down
        h.writer("decisions").write(_decisions([3], TIF_IOC, 100.01, qty=50))
        _until(lambda: SID | 3 in _fills_of(reader, got)["order_id"].tolist(), gw,
               what="venue-down reject")
        acceptor.start()
        _until(lambda: gw.session.up, gw, what="logon again")
        h.writer("decisions").write(_decisions([4], TIF_IOC, 100.01, qty=50))
        _until(lambda: (_fills_of(reader, got)["order_id"] == SID | 4).sum() >= 2, gw,
               what="fills after reconnect")
        fills = _fills_of(reader, got)
        down = fills[fills["order_id"] == SID | 3]
        assert down["status"].tolist() == [FILL_REJECTED]
        assert down["reason"].tolist() == [REASON_VENUE_DOWN]
        sent = acceptor.orders()
        assert sorted(sent) == [str(SID | c) for c in (1, 2, 4)] and len(set(sent)) == len(sent)
        _matches(acceptor, fills)
        reader.close()
        h.stop(gw)


@pytest.mark.parametrize("fault", [("--skip-seq-at", "2"), ("--dup-at", "2")],
                         ids=["sequence_gap", "possdup_report"])
def test_gateway_when_gap_or_duplicate_report_counts_each_fill_once(
        tmp_path: Path, shm_dir: Path, runtime_dir: Path, fault: tuple[str, str]) -> None:
    """A number skipped before the venue's second ExecutionReport (the gateway asks again and
    gets a gap fill) or that report sent twice with PossDupFlag: every order is reported
    once per execution, and the fills equal the venue's executions."""
    (tmp_path / "venue").mkdir()
    acceptor = Acceptor(_free_port(), tmp_path / "venue", "--max-fill", "60", *fault)
    acceptor.start()
    try:
        with Harness(shm_dir, runtime_dir, RINGS) as h:
            reader, got = h.reader("fills", 1), []
            gw = _gateway(h, acceptor.port)
            _until(lambda: gw.session.up, gw, what="logon")
            h.writer("decisions").write(_decisions([1, 2], TIF_IOC, 100.01, qty=100))
            _until(lambda: len(_fills_of(reader, got)) >= 6, gw, what="reports")
            for _ in range(50):
                gw.poll()
            fills = _fills_of(reader, got)
            for c in (1, 2):
                mine = fills[fills["order_id"] == SID | c]["status"].tolist()
                assert mine == [FILL_ACCEPTED, FILL_PARTIAL, FILL_CANCELLED]
            _matches(acceptor, fills)
            if fault[0] == "--skip-seq-at":
                assert gw.session.gaps_in == 1 and gw.session.state.name == "ACTIVE"
            else:
                assert gw.session.duplicates_in + gw.words[gw_dups()] >= 1
            reader.close()
            h.stop(gw)
    finally:
        acceptor.kill()


def test_gateway_when_restarted_reports_earlier_orders_with_their_fields(
        acceptor: Acceptor, shm_dir: Path, runtime_dir: Path) -> None:
    """A DAY order sent by one gateway process and cancelled through the next: the cancel's
    report carries the order's strategy, symbol and side (from the decisions ring), and the
    restarted gateway does not send the order again."""
    acceptor.start()
    with Harness(shm_dir, runtime_dir, RINGS) as h:
        reader, got = h.reader("fills", 1), []
        first = _gateway(h, acceptor.port)
        _until(lambda: first.session.up, first, what="logon")
        d = _decisions([1], TIF_DAY, 99.0)
        d["symbol_id"] = 1
        h.writer("decisions").write(d)
        _until(lambda: len(_fills_of(reader, got)) >= 1, first, what="ack")
        h.stop(first)
        second = _gateway(h, acceptor.port)
        _until(lambda: second.session.up, second, what="logon again")
        h.writer("amend_decisions").write(_amend(2, 1, AMEND_CANCEL))
        _until(lambda: len(_fills_of(reader, got)) >= 2, second, what="cancel report")
        fills = _fills_of(reader, got)
        assert fills["status"].tolist() == [FILL_ACCEPTED, FILL_CANCELLED]
        assert fills["symbol_id"].tolist() == [1, 1] and fills["side"].tolist() == [1, 1]
        assert fills["strategy_id"].tolist() == [1, 1]
        assert acceptor.orders() == [str(SID | 1)]
        reader.close()
        h.stop(second)


class Killed(Exception):
    """Raised in place of a step, to stop a gateway where a SIGKILL would."""


def _boom(*_: Any, **__: Any) -> None:
    raise Killed


def _kill(h: Harness, gw: Any) -> None:
    """Leave the gateway as a SIGKILL would: no on_stop (no logout, nothing published or
    flushed beyond what the mapped state files already hold)."""
    if gw.sock is not None:
        gw.sock.close()
    service = getattr(gw, "service", None)
    if service is not None:
        service.close()
    gw.ctx.close()
    h.contexts.remove(gw.ctx)


def _poll_until_killed(gw: Any, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        assert time.monotonic() < deadline, "the gateway never reached the killed step"
        try:
            gw.poll()
        except Killed:
            return
        time.sleep(0.002)


def test_gateway_when_killed_before_reports_reach_ring_venue_sends_them_again(
        acceptor: Acceptor, shm_dir: Path, runtime_dir: Path) -> None:
    """Killed between receiving an IOC's ExecutionReports and writing them to the fills ring:
    the stored FIX number is still the one before them, so the next gateway process asks for
    them again and reports ack, partial fill and cancel once each (the fill was lost when the
    number was stored on receipt)."""
    acceptor.start()
    with Harness(shm_dir, runtime_dir, RINGS) as h:
        reader, got = h.reader("fills", 1), []
        first = _gateway(h, acceptor.port)
        _until(lambda: first.session.up, first, what="logon")
        first.fills.write = _boom
        h.writer("decisions").write(_decisions([1], TIF_IOC, 100.01))
        _poll_until_killed(first)
        _kill(h, first)
        second = _gateway(h, acceptor.port)
        _until(lambda: len(_fills_of(reader, got)) >= 3, second, what="reports sent again")
        for _ in range(50):
            second.poll()
        fills = _fills_of(reader, got)
        assert fills["status"].tolist() == [FILL_ACCEPTED, FILL_PARTIAL, FILL_CANCELLED]
        _matches(acceptor, fills)
        assert acceptor.orders() == [str(SID | 1)]
        reader.close()
        h.stop(second)


def test_gateway_when_killed_after_reports_published_resent_ones_are_booked_once(
        tmp_path: Path, shm_dir: Path, runtime_dir: Path) -> None:
    """Killed after the reports reached the fills ring but before their ExecIDs were marked
    done and the FIX number stored; the venue then resends them (a gap) and, at the logon,
    sends the last trade again as a new message (PossResend): the next gateway process
    recognizes every one by its ExecID from the state dir (pending entries resolved against
    the ring) and books nothing twice."""
    (tmp_path / "venue").mkdir()
    acceptor = Acceptor(_free_port(), tmp_path / "venue", "--max-fill", "60",
                        "--repeat-on-logon")
    acceptor.start()
    try:
        with Harness(shm_dir, runtime_dir, RINGS) as h:
            reader, got = h.reader("fills", 1), []
            first = _gateway(h, acceptor.port)
            _until(lambda: first.session.up, first, what="logon")
            write = first.fills.write

            def write_then_die(records: np.ndarray) -> None:
                write(records)
                raise Killed
            first.fills.write = write_then_die
            h.writer("decisions").write(_decisions([1], TIF_IOC, 100.01))
            _poll_until_killed(first)
            assert len(_fills_of(reader, got)) == 3
            _kill(h, first)
            second = _gateway(h, acceptor.port)
            _until(lambda: second.ctx.status.words[4] == 1, second, what="trading again")
            for _ in range(200):
                second.poll()
            fills = _fills_of(reader, got)
            assert fills["status"].tolist() == [FILL_ACCEPTED, FILL_PARTIAL, FILL_CANCELLED]
            _matches(acceptor, fills)
            assert second.words[gw_dups()] >= 1
            reader.close()
            h.stop(second)
    finally:
        acceptor.kill()


def test_gateway_when_order_lost_with_killed_gateway_status_request_settles_it(
        acceptor: Acceptor, shm_dir: Path, runtime_dir: Path) -> None:
    """A DAY order rests at the venue; the next one is marked sent but the gateway dies
    before its NewOrderSingle leaves. The next process asks the venue for both
    (OrderStatusRequest) before trading: the resting one stays open (and is cancelled
    later), the one the venue never took is reported rejected (REASON_VENUE), so no approved
    order is left without a final report and none reached the venue twice."""
    from shm.layout import REASON_VENUE

    acceptor.start()
    with Harness(shm_dir, runtime_dir, RINGS) as h:
        reader, got = h.reader("fills", 1), []
        first = _gateway(h, acceptor.port)
        _until(lambda: first.session.up, first, what="logon")
        h.writer("decisions").write(_decisions([1], TIF_DAY, 99.0))
        _until(lambda: len(_fills_of(reader, got)) >= 1, first, what="ack")
        first._flush = lambda: first.session.outbox.clear()  # what it sends is lost
        h.writer("decisions").write(_decisions([2], TIF_DAY, 99.0))
        _until(lambda: first.decisions.available() == 0, first, what="order 2 marked")
        _kill(h, first)
        second = _gateway(h, acceptor.port)
        assert second.ctx.status.words[4] == 0
        _until(lambda: SID | 2 in _fills_of(reader, got)["order_id"].tolist(), second,
               what="the lost order settled")
        _until(lambda: second.ctx.status.words[4] == 1, second, what="ready again")
        h.writer("amend_decisions").write(_amend(3, 1, AMEND_CANCEL))
        _until(lambda: len(_fills_of(reader, got)) >= 3, second, what="cancel report")
        fills = _fills_of(reader, got)
        by = {c: fills[fills["order_id"] == SID | c] for c in (1, 2)}
        assert by[1]["status"].tolist() == [FILL_ACCEPTED, FILL_CANCELLED]
        assert by[2]["status"].tolist() == [FILL_REJECTED]
        assert by[2]["reason"].tolist() == [REASON_VENUE]
        assert acceptor.orders() == [str(SID | 1)]
        reader.close()
        h.stop(second)


def test_gateway_when_venue_restarted_with_resting_order_reconciles_before_trading(
        acceptor: Acceptor, shm_dir: Path, runtime_dir: Path) -> None:
    """A DAY order rests; the acceptor is killed and restarted (its book is gone). After the
    reconnect the gateway asks for the order before it trades again: the venue says it is
    cancelled, so it is reported FILL_CANCELLED (not left open forever), and an order
    approved meanwhile waits on its ring until then, then trades."""
    acceptor.start()
    with Harness(shm_dir, runtime_dir, RINGS) as h:
        reader, got = h.reader("fills", 1), []
        gw = _gateway(h, acceptor.port)
        _until(lambda: gw.session.up, gw, what="logon")
        h.writer("decisions").write(_decisions([1], TIF_DAY, 99.0))
        _until(lambda: len(_fills_of(reader, got)) >= 1, gw, what="ack")
        acceptor.kill()
        _until(lambda: not gw.session.up, gw, what="session down")
        acceptor.start()
        _until(lambda: gw.session.up, gw, what="logon again")
        h.writer("decisions").write(_decisions([2], TIF_IOC, 100.01, qty=50))
        _until(lambda: (_fills_of(reader, got)["order_id"] == SID | 2).sum() >= 2, gw,
               what="the new order traded")
        fills = _fills_of(reader, got)
        assert fills[fills["order_id"] == SID | 1]["status"].tolist() == [FILL_ACCEPTED,
                                                                           FILL_CANCELLED]
        first_of_2 = fills["order_id"].tolist().index(SID | 2)
        assert fills["order_id"].tolist().index(SID | 1, 1) < first_of_2  # settled first
        assert fills[fills["order_id"] == SID | 2]["status"].tolist()[-1] == FILL_FILLED
        reader.close()
        h.stop(gw)
