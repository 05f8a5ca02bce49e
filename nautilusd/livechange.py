"""What a reload may change while engines run, and what it must refuse.

Engines are added, changed and removed live; the resources created once at start (rings,
the status table, sockets, directories, the instance's names) are not, so a reload that
changes them is refused whole, saying which key and that a restart is needed.
"""

from __future__ import annotations

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
    if dict(old.rings) != dict(new.rings):
        changed = sorted(set(old.rings) ^ set(new.rings) | {
            n for n in set(old.rings) & set(new.rings) if old.rings[n] != new.rings[n]})
        lines.append(f"rings: {', '.join(changed)} added, removed or changed")
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
