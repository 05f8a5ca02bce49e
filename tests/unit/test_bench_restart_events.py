"""bench restart's event matching: stale and foreign events never time a kill."""

from __future__ import annotations

from collections import deque

import pytest

from nautilusd.bench.restart_events import Event, StaleFeedError, time_kill

pytestmark = pytest.mark.timeout(30)

T0 = 100.0


class QueueFeed:
    """A feed over a fixed queue of events, as a subscription that caught old ones sees it."""

    def __init__(self, events: list[Event]) -> None:
        self.events = deque(events)

    def next(self, timeout_s: float) -> Event | None:
        return self.events.popleft() if self.events else None

    def drain(self) -> int:
        n = len(self.events)
        self.events.clear()
        return n


def _stale_then_real() -> list[Event]:
    """Events of the first start and of a previous kill still queued, then this kill's."""
    return [
        Event(99.0, "spawned", 10, 1), Event(99.1, "ready", 10, 1),      # first start
        Event(T0 + 0.0001, "spawned", 11, 2),                            # late: previous kill
        Event(T0 + 0.0002, "ready", 11, 2),
        Event(T0 + 0.0003, "ready", 77, 5),                              # another process
        Event(T0 + 0.001, "exited", 11, 2), Event(T0 + 0.0012, "restarting", 0, 2),
        Event(T0 + 0.002, "spawned", 12, 3), Event(T0 + 0.004, "ready", 12, 3),
    ]


def _first_of_each(feed: QueueFeed, t0: float) -> dict[str, float]:
    """The matching the bench used to do: the first spawned, then the first ready."""
    out: dict[str, float] = {}
    for want in ("spawned", "ready"):
        while (ev := feed.next(1.0)) is not None and ev.event != want:
            pass
        assert ev is not None
        out[want] = (ev.at - t0) * 1e3
    return out


def test_time_kill_when_stale_events_are_queued_is_not_fooled() -> None:
    """Only the exited event of the killed pid and the new pid's spawned/ready count."""
    timing = time_kill(QueueFeed(_stale_then_real()), old_pid=11, old_generation=2, t0=T0)
    assert timing.new_pid == 12 and timing.new_generation == 3
    assert timing.arrival_ms == pytest.approx(
        {"exited": 1.0, "restarting": 1.2, "spawned": 2.0, "ready": 4.0})


def test_first_event_matching_when_stale_events_are_queued_is_fooled() -> None:
    """The old matching reports a respawn in a fraction of a millisecond from the same queue
    (what the test above guards against)."""
    old = _first_of_each(QueueFeed(_stale_then_real()), T0)
    assert old["spawned"] < 0 and old["ready"] < 1.0


def test_time_kill_when_the_new_process_never_reports_ready_raises() -> None:
    """A ready of some other pid does not complete the kill: the feed runs dry, an error."""
    events = [Event(T0 + 0.001, "exited", 11, 2), Event(T0 + 0.002, "spawned", 12, 3),
              Event(T0 + 0.003, "ready", 13, 4)]
    with pytest.raises(StaleFeedError, match="pid 11"):
        time_kill(QueueFeed(events), old_pid=11, old_generation=2, t0=T0, timeout_s=0.5)


def test_time_kill_when_events_carry_daemon_stamps_reports_them() -> None:
    """The daemon's own monotonic stamps give the breakdown independent of the bus."""
    events = [Event(T0 + 0.003, "exited", 11, 2, int((T0 + 0.0005) * 1e9)),
              Event(T0 + 0.004, "spawned", 12, 3, int((T0 + 0.001) * 1e9)),
              Event(T0 + 0.009, "ready", 12, 3, int((T0 + 0.003) * 1e9))]
    timing = time_kill(QueueFeed(events), 11, 2, T0)
    assert timing.stamped_ms["exited"] == pytest.approx(0.5, abs=1e-3)
    assert timing.stamped_ms["ready"] == pytest.approx(3.0, abs=1e-3)


def test_time_kill_when_events_read_late_were_stamped_before_the_kill_skips_them() -> None:
    """An event read after the kill but stamped by the daemon before it (a restart of the
    same pid and generation queued earlier) is stale, whenever it arrives."""
    t0_ns = int(T0 * 1e9)
    events = [
        Event(T0 + 0.0001, "exited", 11, 2, t0_ns - 5_000_000),  # before the kill: stale
        Event(T0 + 0.0002, "spawned", 99, 3, t0_ns - 4_000_000),
        Event(T0 + 0.001, "exited", 11, 2, t0_ns + 900_000),
        Event(T0 + 0.002, "spawned", 12, 3, t0_ns + 1_900_000),
        Event(T0 + 0.004, "ready", 12, 3, t0_ns + 3_900_000),
    ]
    timing = time_kill(QueueFeed(events), old_pid=11, old_generation=2, t0=T0)
    assert timing.new_pid == 12
    assert timing.stamped_ms["exited"] == pytest.approx(0.9, abs=1e-3)
