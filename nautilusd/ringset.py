"""The topology's rings as one owned resource: created (or adopted) before engines start.

Rings outlive engine crashes (a restarted engine re-attaches and resumes at its cursor) and a
SIGKILL of nautilusd: the next start adopts every ring whose geometry still matches the
config, so committed records and cursors survive. They go at a clean shutdown, unless
[supervisor].keep_rings keeps them for a post-mortem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engines.spec import RingConfig
from nautilusd import paths
from nautilusd.config.model import Topology
from shm import Policy, Ring, ring_stats
from shm.layout import record_dtype


def _max_readers(ring: RingConfig) -> int:
    return max(8, len(ring.readers))


def latest_slots(ring: RingConfig, symbols: tuple[str, ...]) -> int:
    """Board slots of a `latest` ring: one per symbol of the topology (at least one)."""
    return max(len(symbols), 1) if ring.latest else 0


class RingSet:
    """Every ring of one instance, by ring name; `adopted` names those taken over."""

    def __init__(self, rings: dict[str, Ring], directory: Path,
                 adopted: tuple[str, ...] = ()) -> None:
        self.rings = rings
        self.directory = directory
        self.adopted = adopted

    @classmethod
    def create(cls, topology: Topology, directory: Path,
               adopted: dict[str, Ring] | None = None) -> RingSet:
        """Create every ring not in `adopted`; on a failure, release all and re-raise."""
        made: dict[str, Ring] = dict(adopted or {})
        try:
            for ring in topology.rings.values():
                if ring.name in made:
                    continue
                made[ring.name] = _make(topology, ring, directory)
        except BaseException:
            for ring_obj in made.values():
                ring_obj.destroy()
            raise
        return cls(made, directory, tuple(sorted(adopted or {})))

    def add(self, topology: Topology, ring: RingConfig) -> None:
        """Create ring `ring` of `topology` now (a reload added or changed it)."""
        self.rings[ring.name] = _make(topology, ring, self.directory)

    def remove(self, name: str) -> None:
        """Unlink ring `name` (its engines are down; attached parties keep their maps)."""
        ring = self.rings.pop(name, None)
        if ring is not None:
            ring.destroy()

    def stats(self) -> list[dict[str, Any]]:
        """`ring_stats` of each ring under its ring name (the segment name under "segment")."""
        rows = []
        for name, ring in self.rings.items():
            stats = ring_stats(ring.name, directory=self.directory)
            rows.append({**stats, "name": name, "segment": stats.get("name", ring.name),
                         "latest_slots": ring.latest_slots})
        return rows

    def release_reader_slots(self, engine: str, topology: Topology,
                             block: bool = True) -> list[dict[str, Any]]:
        """Free `engine`'s reader slot on every `overwrite` ring it reads and, with `block`,
        on every `block` ring too, so that no writer waits for, or keeps ringing and
        checking, a reader that will not come back (nautilusd calls this when an engine goes
        FATAL; `block` only for a non-critical one). Returns, per ring, the slot and the
        records it left unread; an engine started again later resumes at the ring's current
        position."""
        released = []
        for cfg in topology.rings.values():
            ring = self.rings.get(cfg.name)
            if ring is None or engine not in cfg.readers or (
                    cfg.policy is Policy.BLOCK and not block):
                continue
            index = cfg.readers.index(engine)
            reader = ring.stats()["readers"][index]
            if not reader["active"]:
                continue
            ring.release_reader(index)
            released.append({"ring": cfg.name, "slot": index, "unread": reader["lag"]})
        return released

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


def _make(topology: Topology, ring: RingConfig, directory: Path) -> Ring:
    return Ring.create(
        paths.ring_segment(topology.supervisor.instance, ring.name), record_dtype(ring.record),
        ring.capacity, ring.policy, max_readers=_max_readers(ring), directory=directory,
        block_timeout_ms=ring.block_timeout_ms, readers=len(ring.readers),
        latest_slots=latest_slots(ring, topology.symbols))


def adopt_rings(topology: Topology, directory: Path) -> dict[str, Ring]:
    """Take over the rings a dead nautilusd of this instance left, where the geometry matches.

    Only call this once no live nautilusd owns the instance. A ring whose owner is alive,
    whose layout, capacity, policy or slot count differs, or that is unreadable, is left
    alone (the stale ones are reclaimed afterwards as before).
    """
    adopted: dict[str, Ring] = {}
    for ring in topology.rings.values():
        found = Ring.adopt(
            paths.ring_segment(topology.supervisor.instance, ring.name),
            record_dtype(ring.record), ring.capacity, ring.policy,
            max_readers=_max_readers(ring), directory=directory,
            block_timeout_ms=ring.block_timeout_ms, readers=len(ring.readers),
            latest_slots=latest_slots(ring, topology.symbols),
        )
        if found is not None:
            adopted[ring.name] = found
    return adopted


def reattach_rings(topology: Topology, directory: Path) -> dict[str, Ring]:
    """The rings this very process owned before it re-executed itself (nautilusd.reexec),
    untouched; a ring missing or of another geometry is left out (the caller falls back)."""
    found: dict[str, Ring] = {}
    for ring in topology.rings.values():
        handle = Ring.reattach(
            paths.ring_segment(topology.supervisor.instance, ring.name),
            record_dtype(ring.record), ring.capacity, ring.policy,
            max_readers=_max_readers(ring), directory=directory,
            latest_slots=latest_slots(ring, topology.symbols))
        if handle is not None:
            found[ring.name] = handle
    return found
