"""`nautilusctl reexec`: nautilusd executes its own (possibly new) code in place, same pid.

What crosses the exec is explicit: inherited file descriptors (the forkserver's socket, the
listening control and bus sockets) and a small JSON handover in a memfd named by
$NAUTILUSD_HANDOVER_FD: the lifecycle table, restart counters and history, slots, versions.
No live object is pickled. The engines are the forkserver's children, so they never notice;
the new image re-adopts each one by pid, checked against its start time, and the rings and
status table by name (they are owned by this very pid). A handover the new image cannot
adopt (another format version, corrupt, or a topology that no longer matches) is refused
whole: the new image closes the forkserver's socket, which takes every engine down with it,
and starts afresh from the config, resuming at the rings' committed cursors.

The new image answers `status` from a snapshot in the handover as soon as it has read it
(nautilusd.control.early), before its heavy imports; the config's sha256 and the engines'
counter names in the handover spare it the params check and the engine imports it would
otherwise redo. Where its start goes is in status as daemon.start_phases_ms
(nautilusd.startphases).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zmq

from nautilusd.config.model import Topology
from nautilusd.exitwatch import read_stat
from nautilusd.handover import HandoverError
from nautilusd.log import get_logger
from nautilusd.process import ExitRecord
from nautilusd.states import State

if TYPE_CHECKING:
    from nautilusd.supervisor import Supervisor

log = get_logger(engine="nautilusd")
UNSETTLED = (State.STARTING, State.STOPPING, State.BACKOFF)


def refuse_unsettled(sup: Supervisor) -> None:
    """Only a settled supervisor is handed over: no start, stop, backoff or stop queue in
    flight (their timers would not cross the exec). Raises naming what is in flight."""
    if sup.shutting_down:
        raise HandoverError("nautilusd is shutting down: reexec refused")
    busy = [f"{n} is {i.state.name}" for n, i in sup.instances.items() if i.state in UNSETTLED]
    busy += [f"{n} is queued to stop" for n in sup.pending_stops()]
    busy += [f"{n} is due to start" for n, i in sup.instances.items()
             if i.due and i.wanted and not i.running]
    if sup.host.retired_generations() or (
            sup.upgrade_run is not None and sup.upgrade_run.state == "running"):
        busy.append("an upgrade is under way (an earlier forkserver still serves engines)")
    if busy:
        raise HandoverError(f"reexec refused while engines change state ({'; '.join(busy)}); "
                            "try again once they have settled")


def export_state(sup: Supervisor) -> dict[str, Any]:
    """The supervisor's part of the handover: every instance, as plain data."""
    instances = {}
    for name, inst in sup.instances.items():
        stat = read_stat(inst.pid) if inst.pid else None
        last = inst.last_exit
        instances[name] = {
            "state": inst.state.name, "pid": inst.pid,
            "start_ticks": stat.start_ticks if stat else 0, "generation": inst.generation,
            "restarts": inst.restarts, "wanted": inst.wanted, "stopped_by": inst.stopped_by,
            "slot": inst.slot.index, "cpus": list(inst.cpus), "version": inst.version,
            "started_at": inst.started_at, "ready_at": inst.ready_at,
            "last_exit": None if last is None else [last.code, last.reason, last.at],
            "restart_times": inst.tracker.times(), "restarts_total": inst.tracker.total,
        }
    return {"started_at": sup.started_at, "instances": instances}


def adopt_state(sup: Supervisor, doc: Mapping[str, Any]) -> list[str]:
    """Take the handed-over instances into `sup` (built with their slots); returns the
    instances whose process is gone or is another one now: reported exited (SIGKILL) on the
    loop's next turn, so the restart policy acts as for any exit."""
    handed: Mapping[str, Any] = doc["instances"]
    if set(handed) != set(sup.instances):
        raise HandoverError(f"handover names instances {sorted(handed)}, the config "
                            f"{sorted(sup.instances)}")
    sup.started_at = float(doc["started_at"])
    lost = []
    for name, entry in handed.items():
        inst = sup.instances[name]
        inst.state = State[entry["state"]]
        inst.generation, inst.restarts = int(entry["generation"]), int(entry["restarts"])
        inst.wanted, inst.stopped_by = bool(entry["wanted"]), entry["stopped_by"]
        inst.cpus = tuple(int(c) for c in entry["cpus"])
        inst.version = entry["version"]
        inst.started_at, inst.ready_at = float(entry["started_at"]), float(entry["ready_at"])
        last = entry["last_exit"]
        inst.last_exit = None if last is None else ExitRecord(int(last[0]), str(last[1]),
                                                              float(last[2]))
        inst.tracker.restore([float(t) for t in entry["restart_times"]],
                             int(entry["restarts_total"]))
        inst.pid = int(entry["pid"])
        if inst.pid and not sup.adopt_process(inst, int(entry["start_ticks"])):
            lost.append(name)
    sup.versions = {n: i.version for n, i in sup.instances.items() if i.version}
    return lost


def check_adoptable(doc: Mapping[str, Any], topology: Topology) -> None:
    """Raise HandoverError unless `doc` names this topology's instances and a forkserver."""
    names = {n for e in topology.engines.values() for n in e.instance_names}
    try:
        handed = set(doc["supervisor"]["instances"])
        int(doc["forkserver"]["pid"]), int(doc["forkserver"]["fd"])
    except (KeyError, TypeError, ValueError) as exc:
        raise HandoverError(f"handover lacks {exc}") from None
    if handed != names:
        raise HandoverError(f"handover names instances {sorted(handed)}, the config "
                            f"{sorted(names)}")


def abandon(fds: Sequence[int], reason: str, status_table: Path,
            timeout_s: float = 10.0) -> None:
    """Refuse a handover: close every inherited fd (the forkserver, seeing its socket close,
    SIGKILLs every engine and exits) and reap it, so a fresh start leaves nothing orphaned.
    The earlier image's status table goes too (this pid owns it, so it never looks stale);
    its rings are adopted by the fresh start as a dead predecessor's, cursors kept."""
    log.error("handover_refused", reason=reason, fallback="fresh start")
    status_table.unlink(missing_ok=True)
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # no child left: the forkserver is gone
        if pid == 0:
            time.sleep(0.01)  # the forkserver is killing its children
    log.error("handover_forkserver_lingers", timeout_s=timeout_s)


def flush_and_close(sockets: Sequence[zmq.Socket[Any]], linger_ms: int = 200) -> None:
    """Close `sockets`, letting replies already queued reach their peers: the context is
    terminated (which waits for them) in a thread given `linger_ms`, so an exec never
    drops an answer the old image already gave, and is never held up for long."""
    for sock in sockets:
        if not sock.closed:
            sock.close(linger=linger_ms)
    term = threading.Thread(target=zmq.Context.instance().term, daemon=True)
    term.start()
    term.join(linger_ms / 1000 + 0.05)
