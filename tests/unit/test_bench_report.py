"""bench.report: a suite whose peer failed, or whose summary has a figure missing, fails."""

from __future__ import annotations

import io
import json

from nautilusd.bench.report import emit

ROWS = [{"measure": "round_trip_us", "transport": "ring busy-spin", "p50": 0.21}]


def test_emit_when_every_measurement_ran_returns_zero() -> None:
    """A whole report exits 0 and lists no failure."""
    out, err = io.StringIO(), io.StringIO()
    assert emit("rings", ROWS, {"ring_p50_us": 0.21, "ok": True}, True, out, err) == 0
    assert json.loads(out.getvalue())["failed"] == [] and err.getvalue() == ""


def test_emit_when_a_peer_failed_returns_one_and_names_it() -> None:
    """An error row and the summary figure it left empty both fail the suite, by name."""
    rows = [*ROWS, {"measure": "error", "transport": "zmq single",
                    "error": "Again('Resource temporarily unavailable')"}]
    out, err = io.StringIO(), io.StringIO()
    code = emit("rings", rows, {"ring_p50_us": 0.21, "zmq_single_msgs_per_s": None}, True,
                out, err)
    assert code == 1
    failed = json.loads(out.getvalue())["failed"]
    assert any("zmq single failed" in f and "Again" in f for f in failed)
    assert "summary zmq_single_msgs_per_s not measured" in failed
    assert "bench rings: zmq single failed" in err.getvalue()


def test_emit_when_a_percentile_had_no_samples_returns_one() -> None:
    """A NaN figure (percentiles of no samples) counts as not measured, in the table too."""
    out, err = io.StringIO(), io.StringIO()
    assert emit("restart", ROWS, {"ready_p50_ms": float("nan")}, False, out, err) == 1
    assert "ready_p50_ms not measured" in err.getvalue() and "summary:" in out.getvalue()
