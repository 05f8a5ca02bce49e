"""The notification engine's logic: severity routing, escalation routes, dedupe, the outbox."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engines.notification._channels import ChannelConfig
from engines.notification._outbox import Outbox
from engines.notification._routing import Router
from engines.statedir import StateDir

pytestmark = pytest.mark.timeout(30)
CHANNELS = {"ops": ChannelConfig(kind="webhook", url="http://x", min_severity="warning"),
            "mail": ChannelConfig(kind="email", to=("a@b",), min_severity="critical")}


def test_route_when_kill_switch_escalation_goes_to_webhook_and_email_at_once() -> None:
    """A route adds channels whatever their threshold; severity picks the rest."""
    router = Router({**CHANNELS, "mail": ChannelConfig(kind="email", min_severity="critical")},
                    {"risk.alerts.kill_switch": ("mail",)}, 60.0)
    routed = router.route("risk.alerts.kill_switch", "warning", {}, 0.0)
    assert routed is not None and routed[1] == ["ops", "mail"]
    routed = router.route("risk.alerts.rate_limit", "warning", {}, 0.0)
    assert routed is not None and routed[1] == ["ops"]
    routed = router.route("system.engine.x.ready", "info", {}, 0.0)
    assert routed is not None and routed[1] == []


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.floats(0, 1000)), max_size=40))
def test_route_when_keys_repeat_delivers_each_key_once_per_window(
        events: list[tuple[str, float]]) -> None:
    """Within any window of dedupe_window_s after a delivered alert, its key is not routed
    again; outside it, it is."""
    router, window, last = Router(CHANNELS, {}, 10.0), 10.0, {}
    for key, at in sorted(events, key=lambda e: e[1]):
        routed = router.route("risk.alerts.x", "warning", {"key": key}, at)
        expected = key not in last or at - last[key] >= window
        assert (routed is not None) == expected
        if expected:
            last[key] = at


def test_outbox_when_reopened_after_a_crash_holds_what_was_not_done(tmp_path: Path) -> None:
    """Queued and not done survives a reopen (a torn last line is ignored); done does not;
    the dedupe keys of the window come back too."""
    state_path = tmp_path / "state"
    state_path.mkdir(mode=0o700)
    state = StateDir(state_path)
    box = Outbox(state, keep_seen_s=3600)
    box.queued("1", "ops", {"key": "k1", "ts": 1e12})
    box.queued("2", "ops", {"key": "k2", "ts": 1e12})
    box.done("1", "ops")
    os.write(box.fd, b'{"op":"queued","id":"3"')  # killed mid-write
    box.close()
    again = Outbox(state, keep_seen_s=3600)
    assert list(again.pending) == [("2", "ops")]
    assert set(again.seen) >= {"k1", "k2"}
    again.close()
    third = Outbox(state, keep_seen_s=3600)
    assert list(third.pending) == [("2", "ops")]
    third.close()
