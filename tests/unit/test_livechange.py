"""reload's refusals: a change only a restart can apply is named, never silently accepted."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType

import pytest

from nautilusd.config.model import SupervisorConfig, Topology
from nautilusd.errors import ConfigError
from nautilusd.livechange import refuse_unappliable, ring_plan, unappliable

pytestmark = pytest.mark.timeout(10)


def _topology() -> Topology:
    empty = MappingProxyType({})
    return Topology(source=Path("t.toml"), supervisor=SupervisorConfig(), groups=empty,
                    rings=empty, engines=empty)


@pytest.mark.parametrize(("key", "value"), [("cpus", (1,)), ("log_format", "console"),
                                            ("log_level", "debug"), ("instance", "other")])
def test_reload_when_a_start_only_supervisor_key_changes_is_refused_naming_it(
    key: str, value: object,
) -> None:
    """nautilusd applies its own cores and logging once, at start: a reload changing them is
    refused with the key, before and after."""
    old = _topology()
    new = dataclasses.replace(old, supervisor=dataclasses.replace(old.supervisor,
                                                                  **{key: value}))
    assert any(line.startswith(f"supervisor.{key}:") for line in unappliable(old, new))
    with pytest.raises(ConfigError, match=f"supervisor.{key}"):
        refuse_unappliable(old, new)
    assert unappliable(old, old) == []


def test_ring_plan_when_rings_added_removed_changed_names_every_end() -> None:
    """The plan lists each kind of ring change and every engine at either end, old or new."""
    from engines.spec import RingConfig
    from shm import Policy

    def ring(name: str, writer: str, readers: tuple[str, ...], capacity: int = 1024
             ) -> RingConfig:
        return RingConfig(name=name, record="tick", capacity=capacity, policy=Policy.OVERWRITE,
                          writer=writer, readers=readers)

    old = dataclasses.replace(_topology(), rings=MappingProxyType({
        "kept": ring("kept", "a", ("b",)), "gone": ring("gone", "c", ("d",)),
        "sized": ring("sized", "e", ("f",))}))
    new = dataclasses.replace(old, rings=MappingProxyType({
        "kept": ring("kept", "a", ("b",)), "sized": ring("sized", "e", ("g",), 2048),
        "new": ring("new", "h", ("i",))}))
    plan = ring_plan(old, new)
    assert (plan.added, plan.removed, plan.changed) == (("new",), ("gone",), ("sized",))
    assert plan.engines == {"c", "d", "e", "f", "g", "h", "i"}
    assert plan.replaced == ("gone", "sized")
    assert ring_plan(old, old).engines == frozenset()
