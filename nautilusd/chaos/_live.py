"""The live-change faults of a chaos run: nautilusd re-executing itself (`reexec`) and a
rolling code upgrade (`upgrade`), under load. Neither may restart an engine it should not,
and the reconciliation afterwards must find nothing lost or doubled."""

from __future__ import annotations

import random
import time
from typing import Any

from nautilusd.chaos._rig import Rig, RigError
from nautilusd.ctl.client import RemoteError, RequestTimeout

RECOVERY_S = 25.0
REFUSED_RETRY_S = 10.0  # a reexec is refused while an engine changes state: asked again


def _engines(rig: Rig) -> dict[str, tuple[int, int]]:
    return {n: (int(e.get("pid") or 0), int(e.get("restarts") or 0))
            for n, e in rig.engines().items()}


def _daemon(rig: Rig) -> dict[str, Any]:
    """The daemon's part of status; {} while it does not answer (the new image is still
    starting: requests wait in the kept socket's backlog longer than the rig's time-out)."""
    try:
        doc: dict[str, Any] = rig.request("status")["daemon"]
    except RequestTimeout:
        return {}
    return doc


def _resumed(daemon: dict[str, Any], reexecs: int) -> bool:
    """The new image supervises: its live status, not the early control's snapshot of the
    earlier image's (daemon.resuming), which would compare pids with themselves."""
    return daemon.get("reexecs", -1) > reexecs and not daemon.get("resuming")


def reexec(rig: Rig, rng: random.Random) -> dict[str, Any]:
    """`nautilusctl reexec`: nautilusd's pid, every engine's pid and restart count stay."""
    before, daemon = _engines(rig), _daemon(rig)
    since = time.monotonic()
    deadline = since + REFUSED_RETRY_S
    while True:
        try:
            rig.request("reexec")
            break
        except RemoteError as exc:  # an engine still settling: the command says so
            if "refused while" not in str(exc) or time.monotonic() > deadline:
                raise
            rig.wait_until(rig.all_ready, 1.0, poll_s=0.05)
    done = rig.wait_until(lambda: _resumed(_daemon(rig), daemon["reexecs"]), RECOVERY_S,
                          poll_s=0.005)
    took_ms = round((time.monotonic() - since) * 1e3, 3) if done else None
    after = _engines(rig)
    changed = sorted(n for n in before if after.get(n) != before[n])
    same_pid = _daemon(rig).get("pid") == daemon["pid"]
    if not done:
        raise RigError("nautilusd did not come back from reexec")
    return {"fault": "reexec", "engine": "nautilusd", "kills": 0, "kill_to_ready_ms": None,
            "in_percentiles": False,
            "recovered": not changed and same_pid and rig.wait_until(rig.all_ready, RECOVERY_S),
            "detail": {"reexec_ms": took_ms, "engines_restarted": changed,
                       "daemon_pid_kept": same_pid}}


def upgrade(rig: Rig, rng: random.Random) -> dict[str, Any]:
    """`nautilusctl upgrade all`: a new forkserver generation, then every engine restarted
    once, in dependency order, under load; it must end "done" with the pipeline READY."""
    before = _engines(rig)
    since = time.monotonic()
    plan = rig.request("upgrade", target="all")

    def ended() -> bool:
        return (_daemon(rig).get("upgrade") or {}).get("state") in ("done", "failed")

    done = rig.wait_until(ended, RECOVERY_S * 4, poll_s=0.05)
    run = _daemon(rig).get("upgrade") or {}
    took_ms = round((time.monotonic() - since) * 1e3, 3)
    after = _engines(rig)
    not_restarted = sorted(n for n in plan.get("targets", ())
                           if after.get(n, (0, 0))[0] == before.get(n, (0, 0))[0])
    ok = done and run.get("state") == "done" and not not_restarted
    return {"fault": "upgrade", "engine": "all", "kills": 0, "kill_to_ready_ms": None,
            "in_percentiles": False,
            "recovered": ok and rig.wait_until(rig.all_ready, RECOVERY_S),
            "detail": {"upgrade_ms": took_ms, "state": run.get("state"),
                       "upgraded": len(run.get("upgraded") or ()), "error": run.get("error"),
                       "generation": plan.get("generation"), "not_restarted": not_restarted}}
