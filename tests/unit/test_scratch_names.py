"""Scratch names of benchmark and chaos runs carry the run tag the test session sets, so the
session's leftover check (tests/conftest.py) covers the runs it starts."""

from __future__ import annotations

import pytest

from nautilusd.paths import RUN_TAG_ENV, scratch_id

pytestmark = pytest.mark.timeout(10)


def test_scratch_id_when_session_tag_set_carries_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under pytest the tag is this session's token; two ids differ."""
    monkeypatch.setenv(RUN_TAG_ENV, "abc123")
    first, second = scratch_id(), scratch_id()
    assert first.startswith("abc123x") and second.startswith("abc123x") and first != second


def test_scratch_id_when_tag_unsafe_or_absent_uses_a_plain_id(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A tag that is not short lowercase alphanumerics never reaches a file name."""
    monkeypatch.setenv(RUN_TAG_ENV, "../etc")
    assert len(scratch_id(6)) == 6 and "/" not in scratch_id()
    monkeypatch.delenv(RUN_TAG_ENV)
    assert len(scratch_id(8)) == 8
