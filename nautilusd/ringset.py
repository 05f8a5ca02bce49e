"""The topology's rings as one owned resource: created before engines start, destroyed at exit.

Rings outlive engine crashes (a restarted engine re-attaches and resumes at its cursor);
they go at shutdown, unless [supervisor].keep_rings keeps them for a post-mortem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nautilusd import paths
from nautilusd.config import Topology
from shm.layout import record_dtype
from shm.ring import Ring, ring_stats


class RingSet:
    """Every ring of one instance, by ring name."""

    def __init__(self, rings: dict[str, Ring], directory: Path) -> None:
        self.rings = rings
        self.directory = directory

    @classmethod
    def create(cls, topology: Topology, directory: Path) -> RingSet:
        """Create every ring; on a failure, destroy those already made and re-raise."""
        instance = topology.supervisor.instance
        made: dict[str, Ring] = {}
        try:
            for ring in topology.rings.values():
                made[ring.name] = Ring.create(
                    paths.ring_segment(instance, ring.name), record_dtype(ring.record),
                    ring.capacity, ring.policy.value, max_readers=max(8, len(ring.readers)),
                    directory=directory, block_timeout_ms=ring.block_timeout_ms,
                    readers=len(ring.readers),
                )
        except BaseException:
            for ring_obj in made.values():
                ring_obj.destroy()
            raise
        return cls(made, directory)

    def stats(self) -> list[dict[str, Any]]:
        """`ring_stats` of each ring under its ring name (the segment name under "segment")."""
        rows = []
        for name, ring in self.rings.items():
            stats = ring_stats(ring.name, directory=self.directory)
            rows.append({**stats, "name": name, "segment": stats.get("name", ring.name)})
        return rows

    def destroy(self) -> None:
        """Unlink every ring segment and doorbell."""
        for ring in self.rings.values():
            ring.destroy()
        self.rings = {}

    def close(self) -> None:
        """Unmap but keep the segments on disk (keep_rings)."""
        for ring in self.rings.values():
            ring.segment.close()
        self.rings = {}
