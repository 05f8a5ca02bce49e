"""bench reexec's gap: from the old image's last reply to the new image's first, by the
reexecs count each reply carries; the peer is the longest gap between replies."""

from __future__ import annotations

import pytest

from nautilusd.bench.reexec import Poller

pytestmark = pytest.mark.timeout(10)


def test_gap_when_replies_span_reexecs_measures_last_old_to_first_new() -> None:
    """Replies out of order between images still give last-old to first-new."""
    poller = Poller("ipc:///nonexistent")
    poller.replies = [(1.0, 0, True), (1.01, 0, True), (1.5, 1, True), (1.51, 1, True),
                      (2.0, 2, True)]
    assert poller.gap_ms(1) == pytest.approx(490.0)
    assert poller.gap_ms(2) == pytest.approx(490.0)
    assert poller.gap_ms(3) is None
    assert poller.longest_gap_ms(0.0, 1.6) == pytest.approx(490.0)
    assert poller.longest_gap_ms(1.5, 1.51) == pytest.approx(10.0)
