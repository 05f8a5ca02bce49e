"""Risk's operator counters: accepted, rejected and stale as named status words, and
rejections by reason in risk.status, cumulative and per alert window."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engines.counters import named_values
from engines.harness import Harness
from engines.risk.engine import RiskEngine
from shm.layout import ORDER, TICK
from shm.status import W_CUSTOM0

RINGS = {"ticks": ("tick", "overwrite", 64), "orders": ("order", "block", 256),
         "decisions": ("decision", "block", 256)}
STALE_AGE_NS = 10_000_000_000  # far past the default 1 s time to live


def _orders(first: int, qty: list[int], age_ns: list[int]) -> np.ndarray:
    """Orders of strategy 1 on symbol 0 at the mid, ids first, first + 1, ..."""
    now = time.time_ns()
    out = np.zeros(len(qty), ORDER)
    for i, (q, age) in enumerate(zip(qty, age_ns, strict=True)):
        ts = now - age
        out[i] = ((1 << 40) | (first + i), 1, 0, 1, 1, 1, 0, 0, q, 10.0, ts, i, ts)
    return out


def _decide_all(h: Harness, eng: Any, orders: np.ndarray) -> None:
    tick = np.zeros(1, TICK)
    tick["bid"], tick["ask"] = 9.99, 10.01
    h.writer("ticks").write(tick)
    h.writer("orders").write(orders)
    out = h.reader("decisions", 1)
    deadline = time.monotonic() + 10.0
    while out.available() < orders.shape[0]:
        assert time.monotonic() < deadline, "orders not decided in time"
        eng.poll()
    out.advance(out.available())


def _words(eng: Any) -> dict[str, int]:
    """The risk slot's named words, as nautilusctl status and /metrics read them."""
    words = range(W_CUSTOM0, W_CUSTOM0 + len(RiskEngine.counters))
    return named_values(RiskEngine.counters, [eng.ctx.status.get(w) for w in words])


@pytest.mark.timeout(30)
@pytest.mark.parametrize("n", [3, 40])  # the one-by-one path and the vectorised batch
def test_risk_counters_when_windows_flush_stay_cumulative_by_reason(
    shm_dir: Path, runtime_dir: Path, n: int
) -> None:
    """n accepted, n stale and n over max_order_qty per window: the named words and
    risk.status count them since the spawn; the last window is reported on its own."""
    with Harness(shm_dir, runtime_dir, RINGS) as h:
        eng = h.engine("engines.risk:RiskEngine", "risk", ("ticks", "orders"),
                       ("decisions",), max_orders_per_s=1_000_000)
        qty = [10] * n + [10] * n + [1_000_000] * n
        ages = [0] * n + [STALE_AGE_NS] * n + [0] * n
        _decide_all(h, eng, _orders(1, qty, ages))
        first = eng._status()
        assert first["rejected"] == {"stale": n, "max_qty": n}
        assert first["rejected_this_interval"] == first["rejected"]
        assert first["accepted"] == n
        eng._flush_alerts()  # the alert window ends
        again = _orders(1 + 3 * n, [10] * (2 * n), [0] * n + [STALE_AGE_NS] * n)
        _decide_all(h, eng, again)
        status = eng._status()
        assert status["rejected"] == {"stale": 2 * n, "max_qty": n}
        assert status["rejected_last_interval"] == {"stale": n, "max_qty": n}
        assert status["rejected_this_interval"] == {"stale": n}
        assert status["accepted"] == 2 * n
        assert _words(eng) == {"rejected": 3 * n, "kill_switch_engaged": 0, "duplicates": 0,
                               "accepted": 2 * n, "stale": 2 * n}
        eng._flush_alerts()
        after = eng._status()
        assert after["rejected"] == {"stale": 2 * n, "max_qty": n}
        assert after["rejected_last_interval"] == {"stale": n}
        assert after["rejected_this_interval"] == {}
        assert _words(eng)["stale"] == 2 * n
        h.stop(eng)
