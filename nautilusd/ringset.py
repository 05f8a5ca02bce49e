"""The topology's rings as one owned resource: created (or adopted) before engines start.

Rings outlive engine crashes (a restarted engine re-attaches and resumes at its cursor) and a
SIGKILL of nautilusd: the next start adopts every ring whose geometry still matches the
config, so committed records and cursors survive. They go at a clean shutdown, unless
[supervisor].keep_rings keeps them for a post-mortem.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from engines.spec import RingConfig, RingPolicy
from nautilusd import paths
from nautilusd.config.model import Topology
from shm import _control as c
from shm.doorbell import make_fifo
from shm.errors import ShmError
from shm.layout import fingerprint, record_dtype
from shm.ring import Ring, latest_slots_of, ring_stats
from shm.segment import KIND_RING, Segment, process_alive, process_start_ticks

# Header words (int64 index) of the owner identity: bytes 56 and 64 of the segment header.
OWNER_PID_WORD = 7
OWNER_TICKS_WORD = 8


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
        instance = topology.supervisor.instance
        made: dict[str, Ring] = dict(adopted or {})
        try:
            for ring in topology.rings.values():
                if ring.name in made:
                    continue
                made[ring.name] = Ring.create(
                    paths.ring_segment(instance, ring.name), record_dtype(ring.record),
                    ring.capacity, ring.policy.value, max_readers=_max_readers(ring),
                    directory=directory, block_timeout_ms=ring.block_timeout_ms,
                    readers=len(ring.readers), latest_slots=latest_slots(ring, topology.symbols),
                )
        except BaseException:
            for ring_obj in made.values():
                ring_obj.destroy()
            raise
        return cls(made, directory, tuple(sorted(adopted or {})))

    def stats(self) -> list[dict[str, Any]]:
        """`ring_stats` of each ring under its ring name (the segment name under "segment")."""
        rows = []
        for name, ring in self.rings.items():
            stats = ring_stats(ring.name, directory=self.directory)
            rows.append({**stats, "name": name, "segment": stats.get("name", ring.name),
                         "latest_slots": ring.latest_slots})
        return rows

    def release_reader_slots(self, engine: str, topology: Topology) -> list[dict[str, Any]]:
        """Free `engine`'s reader slot on every `block` ring it reads, so that the writer
        stops waiting for a reader that will not come back (nautilusd calls this when a
        non-critical engine goes FATAL). Returns, per ring, the slot and the records it left
        unread; an engine started again later resumes at the ring's current position."""
        released = []
        for cfg in topology.rings.values():
            ring = self.rings.get(cfg.name)
            if ring is None or engine not in cfg.readers or cfg.policy is not RingPolicy.BLOCK:
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


def adopt_rings(topology: Topology, directory: Path) -> dict[str, Ring]:
    """Take over the rings a dead nautilusd of this instance left, where the geometry matches.

    Only call this once no live nautilusd owns the instance. A ring whose owner is alive,
    whose layout, capacity, policy or slot count differs, or that is unreadable, is left
    alone (the stale ones are reclaimed afterwards as before).
    """
    adopted: dict[str, Ring] = {}
    for ring in topology.rings.values():
        seg = _attach_matching(paths.ring_segment(topology.supervisor.instance, ring.name),
                               ring, directory, latest_slots(ring, topology.symbols))
        if seg is not None:
            adopted[ring.name] = _take_over(seg, ring)
    return adopted


def _attach_matching(name: str, ring: RingConfig, directory: Path,
                     slots: int) -> Segment | None:
    if not (directory / name).is_file():
        return None
    dtype = record_dtype(ring.record)
    try:
        seg = Segment.attach(name, kind=KIND_RING, fingerprint=fingerprint(dtype),
                             capacity=ring.capacity, record_size=dtype.itemsize,
                             directory=directory)
    except ShmError:
        return None
    h = seg.header
    try:
        board = latest_slots_of(seg, dtype)
    except ShmError:
        board = -1  # a damaged board: not ours to adopt
    same = (h.policy == c.Policy.parse(ring.policy) and
            h.control_blocks == 1 + _max_readers(ring) and board == slots)
    if not same or process_alive(h.owner_pid, h.owner_start_ticks):
        seg.close()
        return None
    return seg


def _take_over(seg: Segment, ring: RingConfig) -> Ring:
    """Own the segment; forget the dead writer and readers but keep every cursor."""
    seg.owner = True
    me = os.getpid()
    seg.words[OWNER_TICKS_WORD] = process_start_ticks(me)
    seg.words[OWNER_PID_WORD] = me
    w = seg.block(0)
    w[c.W_PID] = w[c.W_START_TICKS] = 0
    w[c.W_BLOCK_TIMEOUT_MS] = ring.block_timeout_ms
    w.release()
    seg.set_writer_pid(0)
    adopted = Ring(seg, record_dtype(ring.record))
    for k in range(adopted.max_readers):
        slot = c.reader_slot(seg, k)
        slot[c.R_PID] = slot[c.R_START_TICKS] = 0
        slot.release()
        make_fifo(c.bell_path(seg.path, k))  # a fresh doorbell, no stale rings
        if k >= len(ring.readers):
            adopted.release_reader(k)  # nobody would ever advance it: it must not gate
        else:
            adopted.reserve_reader(k)  # active at its committed cursor (kept if it had one)
    parked = c.parked_view(seg)
    parked[:] = bytes(len(parked))
    parked.release()
    return adopted
