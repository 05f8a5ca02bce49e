"""nautilusd.startphases: marks on one monotonic timeline across an exec, as steps and totals."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nautilusd.startphases import StartPhases

pytestmark = pytest.mark.timeout(30)


def test_continue_from_when_earlier_image_marked_puts_its_phases_first() -> None:
    """The earlier image's marks (export, flush) come before this image's, from its origin."""
    earlier = StartPhases(origin_ns=time.monotonic_ns())
    earlier.mark("export")
    earlier.mark("flush")
    handed = earlier.export()
    now = StartPhases()
    now.mark("interpreter")
    assert now.continue_from(handed)
    now.mark("first_reply")
    assert list(now.steps_ms()) == ["export", "flush", "interpreter", "first_reply"]
    totals = now.since_origin_ms()
    assert totals["first_reply"] == pytest.approx(sum(now.steps_ms().values()), abs=0.01)


@pytest.mark.parametrize("handed", [None, {}, {"origin_ns": "x", "marks": []},
                                    {"origin_ns": 1, "marks": [["a"]]}, "marks"])
def test_continue_from_when_handed_value_is_malformed_is_left_out(handed: object) -> None:
    """Diagnostics only: a malformed value changes nothing and says so (False)."""
    phases = StartPhases()
    phases.mark("interpreter")
    assert not phases.continue_from(handed)
    assert list(phases.steps_ms()) == ["interpreter"]


@given(st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=20))
def test_steps_when_summed_give_the_total_of_the_last_mark(gaps: list[int]) -> None:
    """Steps are the differences of the totals: they sum to the last phase's total."""
    phases = StartPhases(origin_ns=0)
    at = 0
    for i, gap in enumerate(gaps):
        at += gap
        phases._marks.append((f"p{i}", at))
    assert sum(phases.steps_ms().values()) == pytest.approx(at / 1e6, abs=1e-3 * len(gaps))
    assert phases.since_origin_ms()[f"p{len(gaps) - 1}"] == pytest.approx(at / 1e6, abs=1e-3)
