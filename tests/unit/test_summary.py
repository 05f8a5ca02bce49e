"""Tests for the live summary: rates from status counters, P&L and latency from the bus."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
import zmq

from nautilusd.loop import EventLoop
from nautilusd.summary import LiveSummary, RejectionTally


def _doc(ticks: int, fills: int) -> dict:
    return {"daemon": {"instance": "t", "pid": 1}, "engines": [
        {"name": "marketdata", "state": "READY", "counters": {"records_out": ticks}},
        {"name": "execution", "state": "BACKOFF", "counters": {"records_out": fills}},
    ]}


@contextlib.contextmanager
def _bus_summary(runtime_dir: Path) -> Iterator[tuple[zmq.Socket, EventLoop, LiveSummary]]:
    """A LiveSummary subscribed to a real XPUB standing in for the bus proxy's output."""
    ctx = zmq.Context()
    endpoint = f"ipc://{runtime_dir}/bus-out.sock"
    pub = ctx.socket(zmq.XPUB)
    pub.bind(endpoint)
    loop = EventLoop()
    summary = LiveSummary(lambda: _doc(0, 0), endpoint, loop, io.StringIO(), context=ctx)
    try:
        yield pub, loop, summary
    finally:
        summary.close()
        pub.close(linger=0)
        ctx.term()


@pytest.mark.timeout(20)
def test_rows_when_counters_grow_report_rates_pnl_and_latency(runtime_dir) -> None:
    """Two samples one second apart give per-second rates; bus snapshots fill P&L and latency."""
    with _bus_summary(runtime_dir) as (pub, loop, summary):
        pub.recv(zmq.NOBLOCK) if pub.poll(5000) else pytest.fail("no subscription arrived")
        for _ in range(50):  # slow joiner: resend until the snapshots land
            pub.send_multipart([b"trading.positions.all", msgpack.packb({"pnl": 12.5})])
            pub.send_multipart([b"analytics.summary",
                                msgpack.packb({"tick_to_fill_us": {"p50_us": 40, "p99_us": 90}})])
            loop.run_once(0.05)
            if len(summary.latest) == 2:
                break
        summary.rows(_doc(0, 0), now=100.0)
        rows = dict(summary.rows(_doc(5000, 7), now=101.0))
        assert rows["ticks/s"] == "5,000"
        assert rows["fills"] == "7 (+7)"
        assert rows["P&L"] == "12.50"
        assert rows["tick-to-fill p50/p99"] == "40 us / 90 us"
        assert rows["engines"] == "1 READY, 1 BACKOFF (execution)"


def test_tick_when_not_a_terminal_prints_one_line() -> None:
    """Without a TTY the summary degrades to one plain line per tick."""
    out = io.StringIO()
    summary = LiveSummary.__new__(LiveSummary)
    summary._status, summary._out, summary._live = (lambda: _doc(10, 1)), out, None
    summary._last, summary.latest = None, {}
    summary.reasons, summary._last_outcomes = RejectionTally(), {}
    summary.tick()
    line = out.getvalue()
    assert line.count("\n") == 1 and "fills 1" in line and "P&L -" in line
    assert "engines 1 READY, 1 BACKOFF (execution)" in line


def _risk_doc(accepted: int, rejected: int, stale_risk: int, stale_exec: int,
              fills: int) -> dict:
    return {"engines": [
        {"name": "risk", "state": "READY", "counters": {"records_out": accepted + rejected},
         "named_counters": {"rejected": rejected, "kill_switch_engaged": 0, "duplicates": 0,
                            "accepted": accepted, "stale": stale_risk}},
        {"name": "execution", "state": "READY", "counters": {"records_out": fills + 9},
         "named_counters": {"duplicates": 0, "ignored_rejected": rejected, "filled_qty": 0,
                            "stale": stale_exec, "fills": fills}},
    ]}


def test_rows_when_named_counters_grow_show_totals_and_interval() -> None:
    """accepted/rejected/stale/fills: the named counters' totals, + the growth since the
    last line; fills are the execution's fills with a quantity, not all its records."""
    summary = LiveSummary.__new__(LiveSummary)
    summary._last, summary.latest = None, {}
    summary.reasons, summary._last_outcomes = RejectionTally(), {}
    first = dict(summary.rows(_risk_doc(100, 10, 4, 1, 90), now=1.0))
    assert (first["accepted"], first["rejected"], first["stale"], first["fills"]) == (
        "100", "10", "5", "90")
    rows = dict(summary.rows(_risk_doc(1_150, 13, 6, 1, 1_130), now=2.0))
    assert rows["accepted"] == "1,150 (+1,050)"
    assert rows["rejected"] == "13 (+3)"
    assert rows["stale"] == "7 (+2)"
    assert rows["fills"] == "1,130 (+1,040)"
    assert rows["engines"] == "2 READY"


def test_rejection_tally_when_alerts_come_gives_totals_and_window_by_reason() -> None:
    """Each reason: its latest total per risk engine, summed, and the window's counts; a
    kill-switch alert (no count) and junk are not rejections."""
    tally = RejectionTally()
    assert tally.take() == "-"
    tally.add({"engine": "risk", "reason": "stale", "count": 3, "total": 3})
    tally.add({"engine": "risk", "reason": "max_qty", "count": 1, "total": 1})
    tally.add({"engine": "risk", "reason": "stale", "count": 2, "total": 5})
    tally.add({"engine": "risk", "engaged": True, "why": "test"})
    tally.add([1, 2])
    assert tally.take() == "max_qty 1 (+1) stale 5 (+5)"
    tally.add({"engine": "risk2", "reason": "stale", "count": 1, "total": 1})
    assert tally.take() == "max_qty 1 (+0) stale 6 (+1)"
    assert tally.take() == "max_qty 1 (+0) stale 6 (+0)"


@pytest.mark.timeout(20)
def test_summary_when_risk_alerts_on_the_bus_counts_them_by_reason(runtime_dir) -> None:
    """risk.alerts.<reason> messages on the bus reach the summary's rejected-by-reason row."""
    with _bus_summary(runtime_dir) as (pub, loop, summary):
        alert = msgpack.packb({"engine": "risk", "reason": "rate_limit", "count": 4,
                               "total": 40, "window_s": 1.0})
        for _ in range(200):  # slow joiner: resend until one lands
            pub.send_multipart([b"risk.alerts.rate_limit", alert])
            loop.run_once(0.05)
            if summary.reasons.totals:
                break
        row = dict(summary.rows(_doc(0, 0), now=1.0))["rejected by reason"]
        assert row.startswith("rate_limit 40 (+")
