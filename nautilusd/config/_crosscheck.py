"""Checks that span sections of a topology: groups, cores, ring endpoints, dependencies, names.

Each check records every problem it finds in the Collector; none of them raises.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping, Set
from dataclasses import dataclass

from engines.spec import EngineConfig, RingConfig, SpinKind
from nautilusd.config._convert import Collector, key_path
from nautilusd.config.model import GroupConfig, SupervisorConfig
from shm import WaitKind

RESERVED_TARGETS = frozenset({"all"})  # nautilusctl's word for every engine


@dataclass(frozen=True, slots=True)
class Parsed:
    """The sections of one file as far as they converted."""

    supervisor: SupervisorConfig
    groups: Mapping[str, GroupConfig]
    engines: Mapping[str, EngineConfig]  # file order
    rings: Mapping[str, RingConfig]


def check_all(c: Collector, parsed: Parsed, host_cpus: Set[int]) -> None:
    _check_groups(c, parsed)
    _check_host_cpus(c, parsed, host_cpus)
    _check_busy_spin(c, parsed)
    _check_spin_budget(c, parsed)
    _check_rings(c, parsed)
    _check_after(c, parsed.engines)
    _check_cycles(c, parsed.engines)
    _check_names(c, parsed)
    _check_control_endpoint(c, parsed)
    _check_users(c, parsed.engines)


def _check_users(c: Collector, engines: Mapping[str, EngineConfig]) -> None:
    """`user =` names a user of this host; a Python engine keeps nautilusd's own uid: the
    segments and status table it must attach are 0600 files of that uid (fail closed)."""
    euid = os.geteuid()
    for engine in engines.values():
        if engine.user is None:
            continue
        path = _engine_path(engine.name, "user")
        try:
            uid = pwd.getpwnam(engine.user).pw_uid
        except KeyError:
            c.error(path, f"unknown user: {engine.user!r} (not in this host's user database)")
            continue
        if engine.entry and uid != euid:
            c.error(path, f"{engine.user!r} (uid {uid}) cannot run Python engine "
                    f"{engine.name!r}: it attaches nautilusd's rings and status table, which "
                    f"are 0600 and owned by uid {euid} (the uid nautilusd runs as); drop "
                    f"user = or run an exec'd command as that user")


def _check_control_endpoint(c: Collector, parsed: Parsed) -> None:
    """A TCP control socket has no peer uid to check and no CURVE keys here: refused."""
    endpoint = parsed.supervisor.control_endpoint
    if endpoint and not endpoint.startswith("ipc://"):
        c.error("supervisor.control_endpoint", f"{endpoint!r}: only ipc:// is allowed (a "
                "TCP control socket would be unauthenticated: anyone who can connect could "
                "stop every engine)")


def _engine_path(name: str, key: str) -> str:
    return f"{key_path('engines', name)}.{key}"


def _check_groups(c: Collector, parsed: Parsed) -> None:
    known = sorted({"default", *parsed.groups})
    for engine in parsed.engines.values():
        if engine.group not in known:
            c.error(_engine_path(engine.name, "group"), f"unknown group: {engine.group!r} "
                    f"(known: {', '.join(known)})")


def _check_host_cpus(c: Collector, parsed: Parsed, host_cpus: Set[int]) -> None:
    host = ", ".join(map(str, sorted(host_cpus)))
    owners = [("supervisor.cpus", parsed.supervisor.cpus)]
    owners += [(_engine_path(e.name, "cpus"), e.cpus) for e in parsed.engines.values()]
    for path, cpus in owners:
        for i, cpu in enumerate(cpus):
            if cpu not in host_cpus:
                c.error(f"{path}[{i}]", f"cpu {cpu} does not exist on this host "
                        f"(host cpus: {host})")


def _check_busy_spin(c: Collector, parsed: Parsed) -> None:
    """A spinning engine owns its cores: sharing them collapses everyone's latency."""
    spinners = [e for e in parsed.engines.values() if e.wait is WaitKind.BUSY_SPIN]
    own = set(parsed.supervisor.cpus)
    for i, engine in enumerate(spinners):
        path = _engine_path(engine.name, "cpus")
        if not engine.cpus:
            c.error(path, "a busy_spin engine needs dedicated cpus, found none: []")
            continue
        if engine.replicas > 1:
            c.error(path, f"busy_spin replicas would share cpus {list(engine.cpus)}: "
                    f"replicas = {engine.replicas}")
        if shared := sorted(own & set(engine.cpus)):
            c.error(path, f"busy_spin engine {engine.name!r} shares cpus {shared} "
                    f"with nautilusd itself (supervisor.cpus = {list(parsed.supervisor.cpus)})")
        for other in spinners[:i]:
            if shared := sorted(set(other.cpus) & set(engine.cpus)):
                c.error(path, f"busy_spin engines {other.name!r} and {engine.name!r} "
                        f"share cpus {shared}")


def _check_spin_budget(c: Collector, parsed: Parsed) -> None:
    """spin_us and spin shape the blocking wait's spin; the other kinds never park, so they
    mean nothing there."""
    for engine in parsed.engines.values():
        if engine.wait is WaitKind.BLOCKING:
            continue
        if engine.spin_us is not None:
            c.error(_engine_path(engine.name, "spin_us"),
                    f"spin_us applies to wait = \"blocking\" only; engine {engine.name!r} "
                    f"has wait = {engine.wait.value!r}")
        if engine.spin is not SpinKind.YIELD:
            c.error(_engine_path(engine.name, "spin"),
                    f"spin = {engine.spin.value!r} applies to wait = \"blocking\" only; engine "
                    f"{engine.name!r} has wait = {engine.wait.value!r}")


def _check_rings(c: Collector, parsed: Parsed) -> None:
    engines = parsed.engines
    for ring in parsed.rings.values():
        path = key_path("rings", ring.name)
        if ring.writer not in engines:
            c.error(f"{path}.writer", f"writer is not an engine: {ring.writer!r} "
                    f"(a ring needs exactly one writer engine)")
        elif engines[ring.writer].replicas > 1:
            c.error(f"{path}.writer", f"writer {ring.writer!r} has replicas = "
                    f"{engines[ring.writer].replicas}; a ring endpoint must be one process")
        for i, reader in enumerate(ring.readers):
            sub = f"{path}.readers[{i}]"
            if reader not in engines:
                c.error(sub, f"reader is not an engine: {reader!r}")
            elif reader == ring.writer:
                c.error(sub, f"the writer cannot also read its own ring: {reader!r}")
            elif engines[reader].replicas > 1:
                c.error(sub, f"reader {reader!r} has replicas = {engines[reader].replicas}; "
                        f"a ring endpoint must be one process")


def _check_after(c: Collector, engines: Mapping[str, EngineConfig]) -> None:
    for engine in engines.values():
        for i, dep in enumerate(engine.after):
            if dep not in engines:
                c.error(f"{_engine_path(engine.name, 'after')}[{i}]",
                        f"unknown engine: {dep!r}")


def find_cycles(engines: Mapping[str, EngineConfig]) -> list[list[str]]:
    """Every distinct cycle met by a depth-first walk over `after`, as a closed path."""
    done: set[str] = set()
    cycles: list[list[str]] = []
    seen_cycles: set[frozenset[str]] = set()

    def visit(name: str, stack: list[str]) -> None:
        if name in stack:
            cycle = [*stack[stack.index(name):], name]
            if frozenset(cycle) not in seen_cycles:
                seen_cycles.add(frozenset(cycle))
                cycles.append(cycle)
            return
        if name in done or name not in engines:
            return
        stack.append(name)
        for dep in engines[name].after:
            visit(dep, stack)
        stack.pop()
        done.add(name)

    for name in engines:
        visit(name, [])
    return cycles


def _check_cycles(c: Collector, engines: Mapping[str, EngineConfig]) -> None:
    for cycle in find_cycles(engines):
        c.error(_engine_path(cycle[0], "after"), f"dependency cycle: {' -> '.join(cycle)}")


def _check_names(c: Collector, parsed: Parsed) -> None:
    """Control targets are instance or group names: each must mean one thing."""
    owner: dict[str, str] = {}
    for engine in parsed.engines.values():
        for instance in engine.instance_names:
            path = key_path("engines", engine.name)
            if instance in RESERVED_TARGETS:
                c.error(path, f"reserved name: {instance!r}")
            elif instance in owner:
                c.error(path, f"duplicate instance name: {instance!r} "
                        f"(also from {owner[instance]})")
            owner.setdefault(instance, path)
    for name in parsed.groups:
        path = key_path("groups", name)
        if name in RESERVED_TARGETS:
            c.error(path, f"reserved name: {name!r}")
        elif name in owner:
            c.error(path, f"duplicate name: group {name!r} is also an engine ({owner[name]})")
