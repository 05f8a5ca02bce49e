"""What a new engine process is told: its cores, status slot, rings and endpoints (a LaunchSpec).

Pure functions from the topology and an Instance to the picklable spec the forkserver gets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engines.runner import LaunchSpec
from engines.spec import EngineConfig
from nautilusd import paths
from nautilusd.config.model import Topology

if TYPE_CHECKING:
    from nautilusd.process import Instance


@dataclass(frozen=True, kw_only=True, slots=True)
class LaunchPaths:
    """Where this daemon's status table, segments and sockets are."""

    status_segment: str = "nautilusd.default.status"
    shm_dir: Path = Path("/dev/shm")
    runtime_dir: Path = Path("/tmp")
    state_dir: Path = Path("/tmp")
    bus_pub_endpoint: str = ""
    bus_sub_endpoint: str = ""
    ready_bell: str = ""  # FIFO engines ring when READY ("" = the supervisor polls only)


def resolve_cpus(config: EngineConfig, reserved: Sequence[int],
                 host_cpus: Sequence[int]) -> tuple[int, ...]:
    """The engine's cores: as configured, else every host core not reserved for nautilusd."""
    if config.cpus:
        return tuple(config.cpus)
    if reserved:
        return tuple(c for c in host_cpus if c not in reserved)
    return ()


def launch_spec(inst: Instance, topology: Topology, where: LaunchPaths) -> LaunchSpec:
    engine = inst.engine
    rings = tuple(r for r in topology.rings.values() if r.writer == engine or engine in r.readers)
    sup = topology.supervisor
    return LaunchSpec(
        name=inst.name, config=inst.config, cpus=inst.cpus, slot=inst.slot.index,
        status_segment=where.status_segment, shm_dir=str(where.shm_dir), rings=rings,
        ring_segments={r.name: paths.ring_segment(sup.instance, r.name) for r in rings},
        symbols=topology.symbols, bus_pub_endpoint=where.bus_pub_endpoint,
        bus_sub_endpoint=where.bus_sub_endpoint, runtime_dir=str(where.runtime_dir),
        state_dir=str(where.state_dir),
        instance=sup.instance, log_format=sup.log_format, log_level=sup.log_level,
        ready_bell=where.ready_bell,
        host=topology.fleet.host, peers=tuple(topology.peers.values()),
    )
