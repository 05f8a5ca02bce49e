"""Lifecycle events: listeners first, the log record after (deferred when asked)."""

from __future__ import annotations

from collections.abc import Callable

from structlog.testing import capture_logs

from nautilusd.events import EventSink


def test_emit_when_deferred_listeners_now_log_record_after_the_step():
    """The bus listener sees the event at once; the log record is written when the deferred
    step runs, with the same fields."""
    later: list[Callable[[], object]] = []
    sink = EventSink(defer=later.append)
    seen: list[tuple[str, str]] = []
    sink.listeners.append(lambda name, event, fields: seen.append((name, event)))
    with capture_logs() as records:
        sink.emit("risk", "exited", {"pid": 42})
        assert seen == [("risk", "exited")] and records == []
        for step in later:
            step()
    assert [(r["event"], r["target"], r["pid"], r["log_level"]) for r in records] == [
        ("engine_exited", "risk", 42, "warning")]


def test_emit_when_not_deferred_logs_at_once_after_listeners():
    """Without a defer the record is written in emit, after every listener ran."""
    sink = EventSink()
    order: list[str] = []
    with capture_logs() as records:
        sink.listeners.append(lambda *_: order.append(f"listener saw {len(records)} records"))
        sink.emit("risk", "ready", {"pid": 7})
    assert order == ["listener saw 0 records"] and records[0]["event"] == "engine_ready"
