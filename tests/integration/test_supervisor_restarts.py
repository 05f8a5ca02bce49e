"""Restarts with real engine processes: kill, hang, crash loops, group strategies, limits."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest
from supervisor_rig import engine, running

from engines.runner import EXIT_PIN_FAILED
from engines.spec import RestartPolicy
from nautilusd.config.model import GroupConfig, GroupStrategy


@pytest.mark.timeout(30)
def test_sigkill_when_engine_killed_is_respawned_and_ready_again(shm_dir):
    """A SIGKILLed engine comes back as a new process and reports ready."""
    with running(shm_dir, engine("a", cpus=(0,))) as rig:
        rig.until(rig.all_ready)
        old = rig.inst("a").pid
        os.kill(old, signal.SIGKILL)
        rig.until(lambda: rig.inst("a").pid not in (0, old) and rig.state("a") == "READY")
        assert psutil.Process(rig.inst("a").pid).is_running()
        assert rig.inst("a").restarts == 1
        assert rig.inst("a").last_exit.as_dict() == {"signal": 9, "reason": "signal"}


@pytest.mark.timeout(30)
def test_sigstop_when_engine_hung_is_replaced_within_twice_liveness(shm_dir):
    """A SIGSTOPped engine stops heartbeating and is replaced within 2x liveness_timeout_ms."""
    with running(shm_dir, engine("a", liveness_timeout_ms=500)) as rig:
        rig.until(rig.all_ready)
        old = rig.inst("a").pid
        stopped_at = time.monotonic()
        os.kill(old, signal.SIGSTOP)
        rig.until(lambda: rig.inst("a").pid not in (0, old) and rig.state("a") == "READY")
        assert time.monotonic() - stopped_at < 1.0
        assert rig.inst("a").last_exit.reason == "liveness"
        assert not psutil.pid_exists(old) or psutil.Process(old).status() == "zombie"


@pytest.mark.timeout(30)
def test_crash_loop_when_intensity_reached_backs_off_then_goes_fatal(shm_dir):
    """An engine crashing at start backs off with growing delays, then is FATAL."""
    crasher = engine("c", params={"crash_after_s": 0.0}, max_restarts=4,
                     backoff_initial_ms=20, restart_window_s=30)
    with running(shm_dir, crasher) as rig:
        rig.until(lambda: rig.state("c") == "FATAL")
        backoffs = [f["backoff_s"] for n, e, f in rig.events if e in ("backoff", "restarting")]
        assert backoffs == [0.0, 0.02, 0.04, 0.08]
        assert rig.inst("c").restarts == 4 and rig.sup.health()[0] == 1
        assert rig.inst("c").last_exit.as_dict() == {"exit_code": 3, "reason": "exit"}


@pytest.mark.timeout(30)
def test_rest_for_one_when_member_killed_restarts_dependents_only(shm_dir):
    """rest_for_one: the killed engine and those after it get new pids; earlier ones keep theirs."""
    group = GroupConfig(name="g", strategy=GroupStrategy.REST_FOR_ONE)
    with running(shm_dir, engine("a", group="g"), engine("b", group="g", after=("a",)),
                 engine("c", group="g", after=("b",)), engine("x"), groups=(group,)) as rig:
        rig.until(rig.all_ready)
        before = {n: rig.inst(n).pid for n in "abcx"}
        os.kill(before["b"], signal.SIGKILL)
        rig.until(lambda: rig.inst("c").pid not in (0, before["c"]) and rig.all_ready())
        after = {n: rig.inst(n).pid for n in "abcx"}
        assert after["a"] == before["a"] and after["x"] == before["x"]
        assert after["b"] != before["b"] and after["c"] != before["c"]


@pytest.mark.timeout(30)
def test_memory_cap_when_rss_exceeded_restarts_with_reason_memory(shm_dir):
    """An engine over memory_max_bytes is killed and restarted with reason memory."""
    hog = engine("m", params={"allocate_mb": 80}, memory_max_bytes=60 * 2**20,
                 liveness_timeout_ms=400)
    with running(shm_dir, hog) as rig:
        rig.until(lambda: rig.inst("m").last_exit is not None)
        assert rig.inst("m").last_exit.reason == "memory"


@pytest.mark.timeout(30)
def test_pin_when_core_missing_child_exits_with_pin_failed_code(shm_dir):
    """A pin that cannot take is an error: the child exits with its distinct code."""
    bad = engine("p", cpus=(os.cpu_count() + 7,), restart=RestartPolicy.NEVER)
    with running(shm_dir, bad) as rig:
        rig.until(lambda: rig.state("p") == "EXITED")
        assert rig.inst("p").last_exit.as_dict()["exit_code"] == EXIT_PIN_FAILED


@pytest.mark.timeout(30)
def test_affinity_when_pinned_live_moves_every_thread(shm_dir):
    """pin() moves a running engine and verifies it from outside."""
    with running(shm_dir, engine("a", cpus=(0,))) as rig:
        rig.until(rig.all_ready)
        pid = rig.inst("a").pid
        assert psutil.Process(pid).cpu_affinity() == [0]
        assert rig.sup.pin("a", [1]) == [1]
        assert psutil.Process(pid).cpu_affinity() == [1]


@pytest.mark.timeout(30)
def test_forkserver_when_killed_engines_die_with_it_and_come_back(shm_dir):
    """Losing the forkserver takes its engines down; a new one respawns them."""
    with running(shm_dir, engine("a"), engine("b")) as rig:
        rig.until(rig.all_ready)
        old = {n: rig.inst(n).pid for n in "ab"}
        server = rig.sup.host._server
        os.kill(server.pid, signal.SIGKILL)
        rig.until(lambda: all(rig.inst(n).pid not in (0, old[n]) for n in "ab")
                  and rig.all_ready())
        assert rig.sup.host._server.pid != server.pid
        assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"
                       for p in old.values())


@pytest.mark.timeout(30)
def test_spawn_when_os_options_set_child_has_them_from_outside(shm_dir):
    """nice, rlimits, SCHED_FIFO, pin and environment are applied before the engine runs."""
    from types import MappingProxyType

    from engines.spec import RLimits

    tuned = engine("t", cpus=(0,), nice=5, rlimits=RLimits(nofile=512))
    fifo = engine("f", sched_fifo_priority=1)
    # /proc/<pid>/environ shows what exec got: check the environment on an exec'd program.
    execd = engine("x", entry=None, command=("/bin/sleep", "60"), cpus=(1,),
                   environment=MappingProxyType({"NAUTILUSD_TEST_ENV": "on"}))
    with running(shm_dir, tuned, fifo, execd) as rig:
        rig.until(rig.all_ready)
        proc = psutil.Process(rig.inst("t").pid)
        assert proc.nice() == 5 and proc.rlimit(psutil.RLIMIT_NOFILE) == (512, 512)
        assert os.sched_getscheduler(rig.inst("f").pid) == os.SCHED_FIFO
        sleeper = psutil.Process(rig.inst("x").pid)
        # Ready at spawn; exec follows. The kernel renames the process before it sets up the
        # new environment block, so wait for the environment itself (deadline-bounded).
        rig.until(lambda: sleeper.name() == "sleep" and bool(sleeper.environ()))
        assert sleeper.environ().get("NAUTILUSD_TEST_ENV") == "on"
        assert sleeper.cpu_affinity() == [1]


def _thread_nices(pid: int) -> set[int]:
    """The nice value of every thread of `pid` (Linux keeps one per thread), from /proc."""
    nices = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            nices.add(int(f.read().rsplit(")", 1)[1].split()[16]))
    return nices


@pytest.mark.timeout(30)
def test_start_when_restarted_runs_at_start_nice_then_every_thread_at_its_nice(shm_dir):
    """From claim to READY the engine runs at start_nice (its few ms of start work get the
    core ahead of the engines already running there), then at its own nice, every thread."""
    if os.geteuid() != 0:
        pytest.skip("raising a priority needs root or CAP_SYS_NICE")
    slow = engine("s", nice=5, start_nice=-7, params={"ready_delay_s": 1.5})
    with running(shm_dir, slow) as rig:
        rig.until(lambda: rig.inst("s").pid and rig.state("s") == "STARTING")
        pid = rig.inst("s").pid
        # A claimed spare boosts itself once it has read its spec: soon, well inside the sleep
        rig.until(lambda: psutil.Process(pid).nice() == -7, 1.0)
        assert rig.state("s") == "STARTING"
        rig.until(rig.all_ready)
        assert _thread_nices(pid) == {5}
        os.kill(pid, signal.SIGKILL)  # a restart too, from a spare
        rig.until(lambda: rig.inst("s").pid not in (0, pid) and rig.state("s") == "STARTING")
        rig.until(lambda: psutil.Process(rig.inst("s").pid).nice() == -7, 1.0)
        assert rig.state("s") == "STARTING"
        rig.until(rig.all_ready)
        assert _thread_nices(rig.inst("s").pid) == {5}


@pytest.mark.timeout(30)
def test_spare_when_killed_before_use_next_spawn_still_works(shm_dir):
    """A pre-forked spare that died is skipped: the next respawn forks a fresh child."""
    with running(shm_dir, engine("a")) as rig:
        rig.until(rig.all_ready)
        server = psutil.Process(rig.sup.host._server.pid)
        engine_pid = rig.inst("a").pid
        # The next spare is prepared off the critical path, after the engine is claimed: wait
        # for it rather than expect it at READY.
        spares = rig.until(lambda: [c for c in server.children() if c.pid != engine_pid])
        for spare in spares:
            spare.kill()
        os.kill(engine_pid, signal.SIGKILL)
        rig.until(lambda: rig.inst("a").pid not in (0, engine_pid) and rig.all_ready())
        assert rig.inst("a").pid not in {s.pid for s in spares}
