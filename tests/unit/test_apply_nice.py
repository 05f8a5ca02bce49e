"""Engine priority: a raised priority the host refuses is a warning, not a dead engine."""

from __future__ import annotations

import os

import pytest
from structlog.testing import capture_logs

from nautilusd.forkserver import apply_nice


def _refuse_raise(monkeypatch: pytest.MonkeyPatch, calls: list[int]) -> None:
    """setpriority as an unprivileged process has it: lowering priority only."""

    def setpriority(which: int, who: int, value: int) -> None:
        calls.append(value)
        if value < 0:
            raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "setpriority", setpriority)


@pytest.mark.timeout(10)
def test_apply_nice_when_raise_refused_warns_with_value_and_hint(monkeypatch) -> None:
    calls: list[int] = []
    _refuse_raise(monkeypatch, calls)
    with capture_logs() as records:
        assert apply_nice(-10) is False
    assert calls == [-10]
    warning = next(r for r in records if r["event"] == "nice_not_permitted")
    assert warning["log_level"] == "warning" and warning["nice"] == -10
    assert "CAP_SYS_NICE" in warning["hint"]


@pytest.mark.timeout(10)
def test_apply_nice_when_allowed_sets_it_silently(monkeypatch) -> None:
    calls: list[int] = []
    _refuse_raise(monkeypatch, calls)
    with capture_logs() as records:
        assert apply_nice(5) is True
    assert calls == [5] and records == []
