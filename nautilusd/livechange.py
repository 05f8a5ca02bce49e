"""What a reload may change while engines run, and what it must refuse.

Engines are added, changed and removed live, and so are rings (`RingPlan`: a ring added,
removed or changed restarts exactly the engines that write or read it, once the ring is
ready); the resources created once at start (the status table, sockets, directories, the
instance's names, the symbol table) are not, so a reload that changes them is refused whole,
saying which key and that a restart is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

from nautilusd.config.model import Topology
from nautilusd.errors import ConfigError

# [supervisor] keys fixed at start: the names and places of what nautilusd created then, and
# what it applied to itself once (its own cores, its logging, which the forkserver's spares
# were prepared with): a reload that changed them would say "reloaded" and do nothing.
FIXED_SUPERVISOR_KEYS = ("instance", "runtime_dir", "shm_dir", "state_dir", "status_slots",
                         "control_endpoint", "bus_pub_endpoint", "bus_sub_endpoint",
                         "metrics_address", "keep_rings", "cpus", "log_format", "log_level")


def unappliable(old: Topology, new: Topology) -> list[str]:
    """Every change from `old` to `new` that cannot be applied live, as one line each."""
    lines = []
    for key in FIXED_SUPERVISOR_KEYS:
        before, after = (getattr(t.supervisor, key, None) for t in (old, new))
        if before != after:
            lines.append(f"supervisor.{key}: {before!r} -> {after!r}")
    if old.symbols != new.symbols:
        lines.append("symbols: the symbol table (ids and latest-value boards) changed")
    return lines


def refuse_unappliable(old: Topology, new: Topology) -> None:
    """Raise ConfigError naming each change a reload cannot carry out live."""
    lines = unappliable(old, new)
    if lines:
        source = str(new.source)
        raise ConfigError(source, [("", f"{source}: reload cannot apply live (restart "
                                        f"nautilusd for it): {line}") for line in lines])


@dataclass(frozen=True, slots=True)
class RingPlan:
    """The rings a reload adds, removes and changes (any field: size, policy, ends), and
    the engines that write or read any of them, before or after."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    engines: frozenset[str]

    @property
    def replaced(self) -> tuple[str, ...]:
        """Rings whose old segment goes once their engines are down (removed or changed)."""
        return (*self.removed, *self.changed)


def ring_plan(old: Topology, new: Topology) -> RingPlan:
    added = tuple(sorted(set(new.rings) - set(old.rings)))
    removed = tuple(sorted(set(old.rings) - set(new.rings)))
    changed = tuple(sorted(n for n in set(old.rings) & set(new.rings)
                           if old.rings[n] != new.rings[n]))
    engines: set[str] = set()
    for topology, names in ((old, (*removed, *changed)), (new, (*added, *changed))):
        for name in names:
            ring = topology.rings[name]
            engines.update((ring.writer, *ring.readers))
    return RingPlan(added, removed, changed, frozenset(engines))
