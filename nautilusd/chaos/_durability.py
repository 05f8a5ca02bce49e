"""The durability faults of a chaos run: a graceful daemon restart and a reboot.

`daemon_restart` stops nautilusd with SIGTERM (the ordered drain) and starts it again;
`reboot` is what a power cut leaves, minus the page cache: SIGKILL of nautilusd and every
engine at once, its /dev/shm segments and runtime directory removed, then a start. Every
other one is tried with the kill switch engaged first: it must come back engaged (else it
counts in `kill_switch_lost`), and is released again so trading goes on.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import time
from typing import Any

from engines.errors import ServiceError, ServiceTimeout
from engines.service import ServiceClient, service_endpoint
from nautilusd.chaos._faults import RECOVERY_S, _alive, _row
from nautilusd.chaos._reconcile import unlink_instance
from nautilusd.chaos._rig import Rig, RigError

SERVICE_TIMEOUT_S = 10.0


def _kill_switch(rig: Rig, **args: Any) -> dict[str, Any] | None:
    """risk.kill_switch (args) or risk.status (none), straight to risk's service socket,
    retried until risk answers or the deadline passes (None then)."""
    deadline = time.monotonic() + SERVICE_TIMEOUT_S
    method = "risk.kill_switch" if args else "risk.status"
    while time.monotonic() < deadline:
        try:
            with ServiceClient(service_endpoint(rig.runtime_dir, "risk"),
                               timeout_ms=1_000) as client:
                return dict(client.call(method, **args))
        except (ServiceTimeout, ServiceError, OSError):
            rig.pump(100)
    return None


def _around(rig: Rig, engage: bool, outage: Any) -> dict[str, Any]:
    """Engage the switch (when asked), run `outage` (which leaves a daemon starting), wait
    for the pipeline, check the switch and release it. The row's common part."""
    if engage:
        _kill_switch(rig, engage=True, why="chaos: durability check")
    pids = [int(e["pid"]) for e in rig.engines().values() if e.get("pid")]
    since = time.monotonic()
    outage(pids)
    ready = rig.wait_until(rig.all_ready, RECOVERY_S * 2, poll_s=0.02)
    at = time.monotonic() if ready else None
    status = _kill_switch(rig) if ready else None
    killed = None if status is None else bool(status.get("killed"))
    if engage and killed:
        _kill_switch(rig, engage=False, why="chaos: durability check done")
    return {"since": since, "at": at, "engaged_before": engage, "killed_after": killed,
            "kill_switch_lost": int(engage and killed is not True),
            "reconciled": None if status is None else status.get("reconciled")}


def daemon_restart(rig: Rig, rng: random.Random, engage: bool) -> dict[str, Any]:
    """SIGTERM nautilusd, wait for its ordered stop, start it again."""
    def outage(pids: list[int]) -> None:
        code = rig.stop_daemon()
        if code != 0:
            raise RigError(f"nautilusd exited {code} on SIGTERM")
        rig.start()

    done = _around(rig, engage, outage)
    return _row("daemon_restart", "nautilusd", 1, done.pop("since"), done.pop("at"), rig,
                **done)


def reboot(rig: Rig, rng: random.Random, engage: bool) -> dict[str, Any]:
    """SIGKILL nautilusd and every engine at once, remove the instance's segments and the
    runtime directory, start again (rings new: everything comes from the state dir)."""
    def outage(pids: list[int]) -> None:
        proc = rig.proc
        for pid in ([proc.pid] if proc is not None else []) + pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if proc is not None:  # and whatever else the daemon's session holds (a spare, a
            with contextlib.suppress(ProcessLookupError, PermissionError):  # helper)
                os.killpg(proc.pid, signal.SIGKILL)
        if proc is not None:
            proc.wait(10)
        rig.wait_until(lambda: not any(_alive(p) for p in pids), 10.0)
        unlink_instance(rig.shm_dir, rig.instance)
        shutil.rmtree(rig.runtime_dir, ignore_errors=True)
        rig.runtime_dir.mkdir(mode=0o700)
        rig.start()

    done = _around(rig, engage, outage)
    return _row("reboot", "nautilusd", 1, done.pop("since"), done.pop("at"), rig, **done)
