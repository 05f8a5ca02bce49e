"""Group strategies and start order."""

from __future__ import annotations

import pytest
from supervisor_fakes import engine, group, topology

from nautilusd.config.model import GroupStrategy
from nautilusd.errors import NautilusdError
from nautilusd.groups import group_members, instance_order, restart_set, start_order


@pytest.mark.parametrize(
    ("strategy", "failed", "expected"),
    [
        (GroupStrategy.ONE_FOR_ONE, "b", ["b"]),
        (GroupStrategy.ONE_FOR_ALL, "b", ["a", "b", "c"]),
        (GroupStrategy.REST_FOR_ONE, "b", ["b", "c"]),
        (GroupStrategy.REST_FOR_ONE, "c", ["c"]),
        (GroupStrategy.ONE_FOR_ALL, "z", ["z"]),
    ],
)
def test_restart_set_when_member_fails_matches_strategy(strategy, failed, expected):
    """Each OTP strategy picks its set of instances."""
    assert restart_set(strategy, ["a", "b", "c"], failed) == expected


def test_start_order_when_after_declared_puts_dependencies_first():
    """Dependencies come before dependents; file order otherwise."""
    topo = topology(engine("c", after=("b",)), engine("b", after=("a",)), engine("a"),
                    engine("d"))
    assert start_order(topo.engines) == ["a", "b", "c", "d"]


def test_start_order_when_cycle_raises_naming_it():
    """A cycle is an error that shows the path."""
    topo = topology(engine("a", after=("b",)), engine("b", after=("a",)))
    with pytest.raises(NautilusdError, match="a -> b -> a"):
        start_order(topo.engines)


def test_group_members_when_replicas_lists_instances_in_start_order():
    """Replicas appear as instance names, in start order, per group."""
    topo = topology(engine("w", replicas=2, group="g", after=("m",)), engine("m", group="g"),
                    engine("x"), groups=[group("g", "rest_for_one")])
    assert group_members(topo, "g") == ["m", "w-0", "w-1"]
    assert instance_order(topo) == ["m", "w-0", "w-1", "x"]


def test_is_critical_when_flagged_or_named_by_supervisor_is_true():
    """A group is critical when flagged, or when it is the watchdog's named group."""
    from nautilusd.groups import is_critical

    topo = topology(engine("a", group="core"), engine("b", group="critical"), engine("c"),
                    groups=[group("core", "one_for_one", critical=True)])
    assert is_critical(topo, "core") and is_critical(topo, "critical")
    assert not is_critical(topo, "default")
