"""The topology's rings as nautilusd owns them: created together, kept or destroyed together."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest

from engines.spec import RingConfig
from nautilusd import paths
from nautilusd.config.model import SupervisorConfig, Topology
from nautilusd.ringset import RingSet
from shm import Policy


def topology(shm_dir: Path) -> Topology:
    rings = {
        "ticks": RingConfig(name="ticks", record="tick", capacity=1024,
                            policy=Policy.OVERWRITE, writer="md", readers=("s1", "s2")),
        "orders": RingConfig(name="orders", record="order", capacity=256,
                             policy=Policy.BLOCK, writer="s1", readers=("risk",)),
    }
    return Topology(source=Path("rings.toml"),
                    supervisor=SupervisorConfig(instance="rs", shm_dir=shm_dir),
                    groups=MappingProxyType({}), rings=MappingProxyType(rings),
                    engines=MappingProxyType({}))


@pytest.mark.timeout(20)
def test_create_when_topology_has_rings_makes_each_and_destroy_removes_all(shm_dir):
    """Every configured ring exists after create, reports its stats, and goes on destroy."""
    rings = RingSet.create(topology(shm_dir), shm_dir)
    try:
        assert (shm_dir / paths.ring_segment("rs", "ticks")).exists()
        stats = {s["name"]: s for s in rings.stats()}
        assert stats["ticks"]["capacity"] == 1024 and stats["orders"]["capacity"] == 256
        assert stats["ticks"]["latest_slots"] == stats["orders"]["latest_slots"] == 0
    finally:
        rings.destroy()
    assert not list(shm_dir.iterdir())


@pytest.mark.timeout(20)
def test_close_when_keep_rings_leaves_segments_for_post_mortem(shm_dir):
    """close() (keep_rings) unmaps but leaves the segments on disk."""
    rings = RingSet.create(topology(shm_dir), shm_dir)
    rings.close()
    left = sorted(p.name for p in shm_dir.iterdir())
    try:
        assert paths.ring_segment("rs", "orders") in left
    finally:
        for name in left:
            (shm_dir / name).unlink()
