"""The health model against its definition: down iff a critical instance is FATAL, degraded
iff anything else is not READY, and the same answer from rows in any order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from supervisor_fakes import engine, group, topology

from nautilusd.health import HealthState, assess
from nautilusd.states import State

pytestmark = pytest.mark.timeout(60)

STATES = [s.name for s in State] + ["MISSING"]
NAMES = ["a", "b", "c", "d", "e"]


@given(st.dictionaries(st.sampled_from(NAMES), st.sampled_from(STATES), min_size=1),
       st.sets(st.sampled_from(NAMES)), st.randoms())
def test_assess_when_states_vary_follows_the_definition(states, critical, rnd) -> None:
    """Every configured instance is counted; reasons list exactly the not-READY ones."""
    engines = [engine(n, group="crit" if n in critical else "rest") for n in states]
    groups = [group("crit", "one_for_one", critical=True), group("rest", "one_for_one")]
    topo = topology(*engines, groups=groups)
    rows = [{"name": n, "state": s} for n, s in states.items() if s != "MISSING"]
    rnd.shuffle(rows)
    found = assess(topo, rows)
    doc = found.as_dict()
    bad = {n for n, s in states.items() if s != "READY"}
    assert set(doc["not_ready"]) == bad and doc["ready"] + len(bad) == doc["engines"]
    down = any(states[n] == "FATAL" for n in critical & set(states))
    expected = HealthState.DOWN if down else HealthState.DEGRADED if bad else HealthState.HEALTHY
    assert found.state is expected and doc["code"] == expected.value
    assert set(doc["critical_fatal"]) == {n for n in critical & set(states)
                                          if states[n] == "FATAL"}


def test_assess_when_a_ready_bridge_link_is_down_reports_link_down_from_either_row_kind() -> None:
    """A READY engine counting link_up = 0 is LINK_DOWN (degraded), whether the row carries
    link_up itself (the supervisor's) or in named_counters (the status table's, /health)."""
    from nautilusd.config.load import loads_config
    from nautilusd.health import HealthState, assess

    topology = loads_config('[engines.ticks_in]\nentry = "x.y:Z"\n', host_cpus={0})
    for row in ({"name": "ticks_in", "state": "READY", "link_up": 0},
                {"name": "ticks_in", "state": "READY", "named_counters": {"link_up": 0}}):
        found = assess(topology, [row])
        assert found.state is HealthState.DEGRADED
        assert [r.state for r in found.reasons] == ["LINK_DOWN"]
    up = assess(topology, [{"name": "ticks_in", "state": "READY", "link_up": 1}])
    assert up.state is HealthState.HEALTHY
