"""Restart groups (OTP strategies) and start order: which instances a failure takes down.

Pure functions over instance names; `start_order` is the topological order of `after`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from engines.spec import EngineConfig
from nautilusd.config.load import start_order as configload_start_order
from nautilusd.config.model import GroupStrategy, Topology


def restart_set(strategy: GroupStrategy, members: Sequence[str], failed: str) -> list[str]:
    """Instances to restart when `failed` exits; `members` is the group in start order."""
    if failed not in members:
        return [failed]
    if strategy is GroupStrategy.ONE_FOR_ALL:
        return list(members)
    if strategy is GroupStrategy.REST_FOR_ONE:
        return list(members[members.index(failed) :])
    return [failed]


def start_order(engines: Mapping[str, EngineConfig]) -> list[str]:
    """Engine names in start order: the one `nautilusd check` explains (configload's)."""
    return configload_start_order(engines)


def instance_order(topology: Topology) -> list[str]:
    """Every instance name in start order (replicas of an engine stay together)."""
    return [i for e in start_order(topology.engines) for i in topology.engines[e].instance_names]


def group_members(topology: Topology, group: str) -> list[str]:
    """Instances of `group`, in start order."""
    return [
        i for e in start_order(topology.engines) if topology.engines[e].group == group
        for i in topology.engines[e].instance_names
    ]


def strategy_of(topology: Topology, group: str) -> GroupStrategy:
    found = topology.groups.get(group)
    return found.strategy if found is not None else GroupStrategy.ONE_FOR_ONE


def is_critical(topology: Topology, group: str) -> bool:
    """`critical = true`, or the group named by [supervisor].watchdog_critical_group."""
    found = topology.groups.get(group)
    named = topology.supervisor.watchdog_critical_group
    return bool(found is not None and found.critical) or (bool(named) and group == named)
