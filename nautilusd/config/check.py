"""`nautilusd check CONFIG [--json]`: validate a topology and explain what it would run.

Exit 0 and an explanation when valid; exit 2 with every error on stderr, one per line,
when not. `nautilusctl check` calls the same `main`.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from engines.spec import EngineConfig, RingConfig, SpinKind
from nautilusd.config._convert import enum_text
from nautilusd.config.load import default_host_cpus, start_order
from nautilusd.config.model import Topology
from nautilusd.config.params import load_checked
from nautilusd.errors import ConfigError
from nautilusd.paths import default_runtime_dir, default_state_dir
from nautilusd.ringset import latest_slots
from shm import ring_paths
from shm.layout import RECORDS

EXIT_OK = 0
EXIT_INVALID = 2


def main(args: Any, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the check for `args.config` (and `args.json`); return the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    as_json = bool(getattr(args, "json", False))
    try:
        topology = load_checked(args.config)
    except ConfigError as exc:
        for _, message in exc.errors:
            print(message, file=err)
        if as_json:
            errors = [{"path": path, "message": message} for path, message in exc.errors]
            json.dump({"valid": False, "config": str(args.config), "errors": errors}, out)
            print(file=out)
        return EXIT_INVALID
    if as_json:
        json.dump(explain(topology), out, indent=2)
        print(file=out)
    else:
        out.write(render(explain(topology)))
    return EXIT_OK


def explain(topology: Topology) -> dict[str, Any]:
    """What the daemon would do with this topology, as a JSON-ready document."""
    sup = topology.supervisor
    free = sorted(default_host_cpus() - set(sup.cpus))
    return {
        "valid": True,
        "config": str(topology.source),
        "instance": sup.instance,
        "runtime_dir": str(sup.runtime_dir or default_runtime_dir(sup.instance)),
        "state_dir": str(sup.state_dir or default_state_dir(sup.instance)),
        "supervisor_cpus": list(sup.cpus),
        "symbols": list(topology.symbols),
        "groups": {
            g.name: {"strategy": g.strategy.value, "critical": g.critical}
            for g in topology.groups.values()
        },
        "engines": [_engine(topology.engines[n], free) for n in start_order(topology)],
        "rings": [_ring(r, latest_slots(r, topology.symbols)) for r in topology.rings.values()],
        "ring_paths": ring_paths(),  # which one-record ring paths this install runs
    }


def _engine(engine: EngineConfig, free_cpus: list[int]) -> dict[str, Any]:
    return {
        "name": engine.name,
        "instances": list(engine.instance_names),
        "entry": engine.entry,
        "command": list(engine.command) if engine.command else None,
        "cpus": list(engine.cpus) or free_cpus,
        "cpus_default": not engine.cpus,
        "group": engine.group,
        "after": list(engine.after),
        "restart": engine.restart.value,
        "wait": engine.wait.value,
        "spin_us": engine.spin_us,
        "spin": engine.spin.value,
        "nice": engine.nice,
    }


def _ring(ring: RingConfig, slots: int) -> dict[str, Any]:
    return {
        "name": ring.name,
        "record": ring.record,
        "record_size": RECORDS[ring.record].itemsize,
        "capacity": ring.capacity,
        "policy": enum_text(ring.policy),
        "writer": ring.writer,
        "readers": list(ring.readers),
        "latest_slots": slots,
    }


_RING_PATHS = {
    "compiled": "compiled (shm/_native.c; park and publish fenced: no lost wake-up)",
    "python": "python (the compiled paths are not built, or NAUTILUSD_PURE_PYTHON is set; "
              "park and publish are not fenced, a lost wake-up is bounded by a 50 ms re-check)",
}


def _nice(nice: int | None) -> str:
    return "" if nice is None else f"  nice {nice}"


def _spin(spin_us: int | None, spin: str) -> str:
    hot = " hot" if spin == SpinKind.HOT.value else ""
    if spin_us is None:
        return f" (spin{hot})" if hot else ""
    return f" (spin {spin_us} us{hot})"


def render(doc: dict[str, Any]) -> str:
    """The explanation as text for a terminal."""
    lines = [
        f"{doc['config']}: valid",
        f"instance     {doc['instance']}",
        f"runtime dir  {doc['runtime_dir']}",
        f"state dir    {doc['state_dir']}",
        f"own cpus     {_cpus(doc['supervisor_cpus']) or 'not pinned'}",
        f"ring paths   {_RING_PATHS[doc['ring_paths']]}",
        "",
        "engines, in start order:",
    ]
    for i, e in enumerate(doc["engines"], 1):
        program = e["entry"] or " ".join(e["command"])
        cpus = _cpus(e["cpus"]) + (" (default: every free core)" if e["cpus_default"] else "")
        after = f"  after {', '.join(e['after'])}" if e["after"] else ""
        replicas = f"  x{len(e['instances'])}" if len(e["instances"]) > 1 else ""
        lines.append(f"  {i}. {e['name']}{replicas}  {program}")
        lines.append(f"     cpus {cpus}  group {e['group']}  restart {e['restart']}  "
                     f"wait {e['wait']}{_spin(e['spin_us'], e['spin'])}{_nice(e['nice'])}{after}")
    lines += ["", "rings:" if doc["rings"] else "rings: none"]
    for r in doc["rings"]:
        readers = ", ".join(r["readers"]) or "(no readers)"
        board = f"  latest-value board x {r['latest_slots']}" if r["latest_slots"] else ""
        lines.append(f"  {r['name']}  {r['record']} ({r['record_size']} B) x {r['capacity']}  "
                     f"{r['policy']}  {r['writer']} -> {readers}{board}")
    return "\n".join(lines) + "\n"


def _cpus(cpus: list[int]) -> str:
    return ",".join(map(str, cpus))
