"""Tests for the live summary: rates from status counters, P&L and latency from the bus."""

from __future__ import annotations

import io

import msgpack
import pytest
import zmq

from nautilusd.loop import EventLoop
from nautilusd.summary import LiveSummary


def _doc(ticks: int, fills: int) -> dict:
    return {"daemon": {"instance": "t", "pid": 1}, "engines": [
        {"name": "marketdata", "state": "READY", "counters": {"records_out": ticks}},
        {"name": "execution", "state": "BACKOFF", "counters": {"records_out": fills}},
    ]}


@pytest.mark.timeout(20)
def test_rows_when_counters_grow_report_rates_pnl_and_latency(runtime_dir) -> None:
    """Two samples one second apart give per-second rates; bus snapshots fill P&L and latency."""
    ctx = zmq.Context()
    endpoint = f"ipc://{runtime_dir}/bus-out.sock"
    pub = ctx.socket(zmq.XPUB)
    pub.bind(endpoint)
    loop = EventLoop()
    summary = LiveSummary(lambda: _doc(0, 0), endpoint, loop, io.StringIO(), context=ctx)
    try:
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
        assert rows["fills"] == "7"
        assert rows["P&L"] == "12.50"
        assert rows["tick-to-fill p50/p99"] == "40 us / 90 us"
        assert "execution:BACKOFF" in rows["engines"]
    finally:
        summary.close()
        pub.close(linger=0)
        ctx.term()


def test_tick_when_not_a_terminal_prints_one_line() -> None:
    """Without a TTY the summary degrades to one plain line per tick."""
    out = io.StringIO()
    summary = LiveSummary.__new__(LiveSummary)
    summary._status, summary._out, summary._live = (lambda: _doc(10, 1)), out, None
    summary._last, summary.latest = None, {}
    summary.tick()
    line = out.getvalue()
    assert line.count("\n") == 1 and "fills 1" in line and "P&L -" in line
