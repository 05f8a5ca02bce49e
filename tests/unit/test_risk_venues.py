"""Risk fails closed on venue sessions: a watched gateway that is down, silent or never heard
engages the switch (venue_down); every one up releases it; an operator's switch is kept."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
import zmq

from engines.harness import Harness
from engines.risk._venues import VenueWatch, venue_names
from shm.layout import ORDER, REASON_KILL_SWITCH, TICK, VERDICT_APPROVED, VERDICT_REJECTED

RINGS = {"ticks": ("tick", "overwrite", 64), "orders": ("order", "block", 64),
         "decisions": ("decision", "block", 64)}


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def test_watch_when_silent_past_timeout_or_said_down_or_never_heard_is_down() -> None:
    """Up only while the last word was up and fresher than the timeout."""
    clock = Clock()
    watch = VenueWatch(venue_names("fixgw, other"), 3.0, clock)
    assert watch.down() == ["fixgw", "other"]
    watch.on_message({"venue": "fixgw", "up": True})
    watch.on_message({"venue": "other", "up": True})
    watch.on_message({"venue": "stranger", "up": False})
    assert watch.down() == []
    clock.now += 2
    watch.on_message({"venue": "other", "up": False})
    assert watch.down() == ["other"]
    clock.now += 2  # fixgw last heard 4 s ago
    assert watch.down() == ["fixgw", "other"]


def _until(cond: Any, eng: Any, publish: Any = None, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        if publish is not None:
            publish()
        eng._housekeeping()
        eng.poll()
        time.sleep(0.005)


def _order(counter: int) -> np.ndarray:
    o = np.zeros(1, ORDER)
    o["order_id"], o["strategy_id"], o["side"], o["type"], o["qty"] = (1 << 40) | counter, 1, \
        1, 1, 10
    o["price"], o["ts_ns"] = 10.0, time.time_ns()
    return o


@pytest.mark.timeout(60)
def test_risk_when_watched_venue_down_rejects_and_when_up_approves(
        shm_dir: Path, runtime_dir: Path) -> None:
    """Nothing heard from fixgw: engaged (venue_down), the order rejected; fixgw up: released,
    the next approved; fixgw down again: engaged again."""
    zctx = zmq.Context()
    bus = zctx.socket(zmq.PUB)  # where the engine's subscribers connect (the proxy's side)
    bus.setsockopt(zmq.LINGER, 0)
    bus.bind(f"ipc://{runtime_dir}/h-bus-out.sock")
    try:
        with Harness(shm_dir, runtime_dir, RINGS) as h:
            out = h.reader("decisions", 1)
            eng = h.engine("engines.risk:RiskEngine", "risk", ("ticks", "orders"),
                           ("decisions",), venues="fixgw", wake_on_ticks=True)
            assert eng.state.killed and eng._status()["kill_reason"] == "venue_down"
            tick = np.zeros(1, TICK)
            tick["seq"], tick["bid"], tick["ask"] = 1, 9.99, 10.01
            h.writer("ticks").write(tick)
            h.writer("orders").write(_order(1))
            _until(lambda: out.available() == 1, eng)

            def say(up: bool) -> Any:
                return lambda: bus.send_multipart([b"trading.venues.fixgw", msgpack.packb(
                    {"venue": "fixgw", "up": up})])

            _until(lambda: not eng.state.killed, eng, say(True))
            h.writer("orders").write(_order(2))
            _until(lambda: out.available() == 2, eng)
            _until(lambda: eng.state.killed, eng, say(False))
            h.writer("orders").write(_order(3))
            _until(lambda: out.available() == 3, eng)
            got = out.read(4)
            assert got["verdict"].tolist() == [VERDICT_REJECTED, VERDICT_APPROVED,
                                               VERDICT_REJECTED]
            assert got["reason"].tolist() == [REASON_KILL_SWITCH, 0, REASON_KILL_SWITCH]
            out.close()
            h.stop(eng)
    finally:
        bus.close()
        zctx.term()
