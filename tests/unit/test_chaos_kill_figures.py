"""chaos: kill -> ready per fault kind, net of the backoff the daemon chose on purpose."""

from __future__ import annotations

from typing import Any

import pytest

from nautilusd.chaos._faults import Restart, _restart_facts
from nautilusd.chaos._rig import Event
from nautilusd.chaos.run import by_fault


def _kill(fault: str, ms: float, backoff_ms: float = 0.0, startup_ms: float = 5.0
          ) -> dict[str, Any]:
    return {"fault": fault, "engine": "risk", "kills": 1, "kill_to_ready_ms": ms,
            "in_percentiles": True, "backoff_ms": backoff_ms, "startup_ms": startup_ms,
            "kill_to_ready_net_ms": ms - backoff_ms}


@pytest.mark.timeout(10)
def test_by_fault_when_second_kill_backed_off_reports_it_apart_from_restart_time() -> None:
    """A kill inside the restart window waits `backoff_initial_ms` by design: that wait is
    counted (`backoffs`, `backoff_ms`) and not taken for restart time; daemon kills stay
    out of the engine kills."""
    rows = [_kill("sigkill", 10.0), _kill("sigkill", 12.0), _kill("sigkill", 215.0, 200.0),
            _kill("sigkill_mid_batch", 11.0, startup_ms=6.0),
            {"fault": "daemon_sigkill", "engine": "nautilusd", "kills": 1,
             "kill_to_ready_ms": 3000.0, "in_percentiles": True}]
    out = by_fault(rows)
    engine = out["engine_kill"]
    assert engine["n"] == 4 and engine["p99"] < 16.0
    assert engine["backoffs"] == 1 and engine["backoff_ms"] == 200.0
    assert engine["startup_p50"] == 5.0
    assert out["daemon_sigkill"]["p50"] == 3000.0 and out["daemon_sigkill"]["backoffs"] == 0


@pytest.mark.timeout(10)
def test_restart_facts_when_events_of_other_restarts_queued_takes_only_this_ones() -> None:
    """The backoff of the killed generation and the ready of the new pid, nothing else."""

    class _Rig:
        events = [
            Event(0.5, "risk", "backoff", {"generation": 3, "backoff_s": 0.5}),  # before t0
            Event(1.1, "execution", "backoff", {"generation": 4, "backoff_s": 0.3}),
            Event(1.2, "risk", "backoff", {"generation": 4, "backoff_s": 0.02}),
            Event(1.3, "risk", "ready", {"pid": 77, "generation": 4, "startup_ms": 1.0}),
            Event(1.4, "risk", "ready", {"pid": 99, "generation": 5, "startup_ms": 7.5}),
        ]

    facts = _restart_facts(_Rig(), "risk", 1.0, 4, 99)  # type: ignore[arg-type]
    assert facts == Restart(backoff_ms=20.0, startup_ms=7.5)
