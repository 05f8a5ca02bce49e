"""engines.counters: engines name their custom status words; bad declarations are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engines.counters import (
    adopt_declared,
    check_names,
    counter_names,
    declared_counters,
    named_values,
)
from engines.errors import CounterNameError
from shm.status import CUSTOM_COUNTERS

pytestmark = pytest.mark.timeout(30)


def test_declared_counters_when_entry_is_risk_names_its_kill_switch_word() -> None:
    """The shipped risk engine names W_CUSTOM0 + 1 kill_switch_engaged."""
    assert declared_counters("engines.risk:RiskEngine")[1] == "kill_switch_engaged"


def test_declared_counters_when_command_program_is_empty() -> None:
    """A program run by `command` (no entry) has no names."""
    assert declared_counters(None) == ()


@pytest.mark.parametrize(("names", "fragment"), [
    (("a",) * 2, "repeat"),
    (("x",) * (CUSTOM_COUNTERS + 1), "status slot has"),
    (("Bad-Name",), "'Bad-Name' is not lower_snake_case"),
    ("rejected", "must be a tuple"),
])
def test_check_names_when_declaration_is_bad_names_the_value(
    names: tuple[str, ...], fragment: str) -> None:
    """Each refusal names the bad value and where it was declared."""
    with pytest.raises(CounterNameError, match=fragment) as info:
        check_names(names, "x.mod:Engine.counters")
    assert "x.mod:Engine.counters" in str(info.value)


def test_counter_names_when_entry_cannot_load_is_empty() -> None:
    """Observers (status, metrics) show no names for an entry that does not import."""
    assert counter_names("no.such.module:Engine") == ()


@given(st.lists(st.sampled_from(["", "a", "b", "c", "d", "e"]), max_size=CUSTOM_COUNTERS,
                unique=True),
       st.lists(st.integers(-(2**63), 2**63 - 1), min_size=CUSTOM_COUNTERS,
                max_size=CUSTOM_COUNTERS))
def test_named_values_when_some_words_named_keeps_each_named_word_at_its_index(
    names: list[str], words: list[int]) -> None:
    """Every named word appears with the value at its own index; unnamed words never do."""
    found = named_values(check_names(tuple(names), "t"), words)
    assert found == {n: words[i] for i, n in enumerate(names) if n}


def test_status_text_when_engines_have_named_counters_lists_them_by_name() -> None:
    """`nautilusctl status` prints each engine's named words under the table."""
    from nautilusd.control.commands.status import status_text

    doc = {"daemon": {}, "engines": [
        {"name": "risk", "named_counters": {"rejected": 3, "kill_switch_engaged": 1}},
        {"name": "analytics", "named_counters": {}}]}
    text = status_text(doc)
    assert "risk  rejected=3 kill_switch_engaged=1" in text
    assert "analytics  " not in text.split("counters")[-1]


def test_adopt_declared_when_handed_over_is_used_without_importing_the_class() -> None:
    """Names handed over by an earlier image are what status reads for that entry, even for
    an entry that cannot be imported here; bad ones are refused whole, naming where."""
    entry = "not_a_module_anywhere:Engine"
    assert counter_names(entry) == ()
    adopt_declared({entry: ["rejected", "", "link_up"]}, "handover counter_names")
    assert counter_names(entry) == ("rejected", "", "link_up")
    with pytest.raises(CounterNameError, match="handover counter_names: x:Y"):
        adopt_declared({"y:Z": ["ok"], "x:Y": ["Bad-Name"]}, "handover counter_names")
    assert counter_names("y:Z") == ()  # nothing of the refused map was taken
