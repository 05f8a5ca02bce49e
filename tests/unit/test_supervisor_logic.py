"""The supervisor's decisions with a fake Host and a settable clock: order, restarts, groups."""

from __future__ import annotations

import dataclasses
import random
import signal
from types import MappingProxyType

import numpy as np
import pytest
from supervisor_fakes import FakeClock, FakeHost, FakeTable, engine, group, report_ready, topology

from engines.spec import RingConfig
from nautilusd import paths
from nautilusd.config.model import SupervisorConfig
from nautilusd.errors import UnknownTargetError
from nautilusd.loop import EventLoop
from nautilusd.ringset import RingSet
from nautilusd.states import State
from nautilusd.supervisor import READY_POLL_S, Supervisor
from shm import Policy
from shm.layout import FILL
from shm.ring import RingWriter
from shm.status import W_HEARTBEAT_NS, W_PID, W_RESTARTS, W_STATE


class Rig:
    def __init__(self, *engines, groups=(), **kw):
        self.clock = FakeClock()
        self.loop = EventLoop(clock=self.clock)
        self.host = FakeHost(self.clock)
        self.topo = topology(*engines, groups=groups, **kw)
        self.sup = Supervisor(self.topo, self.host, self.loop, FakeTable(),
                              rng=random.Random(1))
        self.events: list[tuple[str, str, dict]] = []
        self.sup.add_event_listener(lambda n, e, f: self.events.append((n, e, f)))

    def advance(self, seconds: float) -> None:
        self.clock.t += seconds
        self.loop.run_timers()

    def ready(self, name: str) -> None:
        report_ready(self.sup.instances[name].slot, self.clock)
        self.advance(READY_POLL_S)

    def pid(self, name: str) -> int:
        return self.sup.instances[name].pid

    def state(self, name: str) -> State:
        return self.sup.instances[name].state

    def crash(self, name: str, code: int = 1) -> None:
        self.host.exit(self.pid(name), code)


def test_start_all_when_after_declared_starts_dependent_only_after_ready():
    """An engine with `after` is spawned only once its dependency reports ready."""
    rig = Rig(engine("b", after=("a",)), engine("a"))
    rig.sup.start_all()
    assert [n for n, _ in rig.host.spawned] == ["a"]
    rig.ready("a")
    assert [n for n, _ in rig.host.spawned] == ["a", "b"]
    assert rig.state("a") is State.READY and rig.state("b") is State.STARTING


def test_spawn_when_started_writes_pid_and_state_into_status_slot():
    """The daemon-owned words of the slot follow the instance."""
    rig = Rig(engine("a"))
    rig.sup.start_all()
    rig.ready("a")
    slot = rig.sup.instances["a"].slot
    assert slot.get(W_PID) == rig.pid("a") and slot.get(W_STATE) == State.READY.code


def test_crash_when_first_restarts_immediately_then_backs_off():
    """The first retry is immediate; the second waits backoff_initial_ms."""
    rig = Rig(engine("a", backoff_initial_ms=100))
    rig.sup.start_all()
    rig.ready("a")
    rig.crash("a")
    assert len(rig.host.pids_of("a")) == 2 and rig.state("a") is State.STARTING
    rig.crash("a")
    assert rig.state("a") is State.BACKOFF and len(rig.host.pids_of("a")) == 2
    rig.advance(0.099)
    assert rig.state("a") is State.BACKOFF
    rig.advance(0.002)
    assert rig.state("a") is State.STARTING and len(rig.host.pids_of("a")) == 3
    assert rig.sup.instances["a"].slot.get(W_RESTARTS) == 2


def test_crash_loop_when_intensity_exceeded_goes_fatal_and_critical_group_is_down():
    """Past max_restarts within the window the engine is FATAL; a critical group reports down."""
    rig = Rig(engine("a", max_restarts=3, group="core", backoff_initial_ms=1),
              groups=[group("core", "one_for_one", critical=True)])
    rig.sup.start_all()
    for _ in range(3):
        rig.crash("a")
        rig.advance(1.0)
    assert len(rig.host.pids_of("a")) == 4
    rig.crash("a")
    assert rig.state("a") is State.FATAL
    assert rig.sup.health()[0] == 2
    assert any(e == "fatal" for _, e, _ in rig.events)


def test_crash_when_window_passed_forgets_old_restarts():
    """Restarts older than restart_window_s do not count toward the intensity."""
    rig = Rig(engine("a", max_restarts=1, restart_window_s=5.0))
    rig.sup.start_all()
    rig.crash("a")
    rig.advance(6.0)
    rig.crash("a")
    assert rig.state("a") is State.STARTING


def test_crash_when_rest_for_one_restarts_later_members_only():
    """rest_for_one stops and restarts the members after the failed one, not those before."""
    rig = Rig(engine("a", group="g"), engine("b", group="g", after=("a",)),
              engine("c", group="g", after=("b",)), groups=[group("g", "rest_for_one")])
    rig.sup.start_all()
    for name in "abc":
        rig.ready(name)
    a_pid, c_pid = rig.pid("a"), rig.pid("c")
    rig.crash("b")
    assert (c_pid, signal.SIGTERM) in rig.host.signals
    assert rig.state("c") is State.STOPPING and rig.pid("a") == a_pid
    rig.host.exit(c_pid, 0)
    rig.ready("b")
    assert rig.state("c") is State.STARTING and rig.pid("c") != c_pid
    assert rig.pid("a") == a_pid and len(rig.host.pids_of("a")) == 1


def test_crash_when_one_for_all_restarts_every_member():
    """one_for_all takes the whole group down and up again."""
    rig = Rig(engine("a", group="g"), engine("b", group="g"), groups=[group("g", "one_for_all")])
    rig.sup.start_all()
    rig.ready("a")
    rig.ready("b")
    a_pid = rig.pid("a")
    rig.crash("b")
    assert (a_pid, signal.SIGTERM) in rig.host.signals
    rig.host.exit(a_pid, 0)
    assert len(rig.host.pids_of("a")) == 2 and len(rig.host.pids_of("b")) == 2


def test_liveness_when_heartbeat_stale_kills_with_reason():
    """A ready engine whose heartbeat is older than its liveness timeout is SIGKILLed."""
    rig = Rig(engine("a", liveness_timeout_ms=200))
    rig.sup.start_all()
    rig.ready("a")
    pid = rig.pid("a")
    for _ in range(10):
        rig.advance(0.05)
    assert (pid, signal.SIGKILL) in rig.host.signals
    killed = [f for _, e, f in rig.events if e == "killed"]
    assert killed and killed[0]["reason"] == "liveness"
    rig.host.exit(pid, -9)
    assert rig.sup.instances["a"].last_exit.reason == "liveness"
    assert rig.state("a") is State.STARTING


def test_liveness_when_heartbeat_fresh_does_not_kill():
    """A beating engine is left alone."""
    rig = Rig(engine("a", liveness_timeout_ms=200))
    rig.sup.start_all()
    rig.ready("a")
    for _ in range(20):
        rig.sup.instances["a"].slot.put(W_HEARTBEAT_NS, int(rig.clock() * 1e9))
        rig.advance(0.05)
    assert not rig.host.signals


def test_memory_when_rss_over_cap_kills_with_reason_memory():
    """RSS above memory_max_bytes is a kill and a restart with reason memory."""
    rig = Rig(engine("a", memory_max_bytes=1000, liveness_timeout_ms=400))
    rig.sup.start_all()
    rig.ready("a")
    rig.host.rss[rig.pid("a")] = 5000
    rig.sup.instances["a"].slot.put(W_HEARTBEAT_NS, int(rig.clock() * 1e9))
    rig.advance(0.11)
    assert [f["reason"] for _, e, f in rig.events if e == "killed"] == ["memory"]


def test_startup_when_never_ready_kills_after_startup_timeout():
    """An engine that does not report ready in startup_timeout_ms is killed."""
    rig = Rig(engine("a", startup_timeout_ms=50))
    rig.sup.start_all()
    pid = rig.pid("a")
    for _ in range(int(0.08 / READY_POLL_S)):  # 80 ms of readiness polls
        rig.advance(READY_POLL_S)
    assert (pid, signal.SIGKILL) in rig.host.signals


def test_exit_when_policy_never_stays_exited():
    """restart = never leaves the instance EXITED."""
    from engines.spec import RestartPolicy

    rig = Rig(engine("a", restart=RestartPolicy.NEVER))
    rig.sup.start_all()
    rig.crash("a", 0)
    assert rig.state("a") is State.EXITED and len(rig.host.pids_of("a")) == 1


def test_shutdown_when_dependencies_stops_in_reverse_order_then_notifies():
    """Dependents get SIGTERM first; their dependency only once they are gone."""
    rig = Rig(engine("a"), engine("b", after=("a",)))
    rig.sup.start_all()
    rig.ready("a")
    rig.ready("b")
    done: list[bool] = []
    rig.sup.add_stopped_listener(lambda: done.append(True))
    a_pid, b_pid = rig.pid("a"), rig.pid("b")
    rig.sup.shutdown()
    assert rig.host.signals == [(b_pid, signal.SIGTERM)]
    rig.host.exit(b_pid, 0)
    assert rig.host.signals[-1] == (a_pid, signal.SIGTERM) and not done
    rig.host.exit(a_pid, 0)
    assert done == [True] and rig.state("a") is State.STOPPED


def test_stop_when_engine_ignores_sigterm_sigkills_after_stop_timeout():
    """A stop that outlasts stop_timeout_ms ends with SIGKILL."""
    rig = Rig(engine("a", stop_timeout_ms=100))
    rig.sup.start_all()
    rig.ready("a")
    pid = rig.pid("a")
    rig.sup.stop("a")
    rig.advance(0.101)
    assert rig.host.signals == [(pid, signal.SIGTERM), (pid, signal.SIGKILL)]


def test_stop_when_target_unknown_raises_naming_it():
    """An unknown target is a typed error that names it."""
    rig = Rig(engine("a"))
    with pytest.raises(UnknownTargetError, match="'nope'"):
        rig.sup.stop("nope")


def test_restart_when_group_target_restarts_its_members():
    """restart(group) returns the members and respawns them."""
    rig = Rig(engine("a", group="g"), engine("b", group="g"))
    rig.sup.start_all()
    rig.ready("a")
    rig.ready("b")
    assert rig.sup.restart("g") == ["a", "b"]
    rig.host.exit(rig.pid("a"), 0)
    rig.host.exit(rig.pid("b"), 0)
    assert len(rig.host.pids_of("a")) == 2 and len(rig.host.pids_of("b")) == 2


def test_reload_when_engines_change_reports_and_applies_diff():
    """reload adds, restarts and removes instances as the new topology says."""
    rig = Rig(engine("a"), engine("b"))
    rig.sup.start_all()
    rig.ready("a")
    rig.ready("b")
    new = topology(engine("a", nice=5), engine("c"))
    diff = rig.sup.reload(new)
    assert diff == {"added": ["c"], "changed": ["a"], "removed": ["b"], "rings_added": [],
                    "rings_removed": [], "rings_changed": []}
    rig.host.exit(rig.pid("b"), 0)
    rig.host.exit(rig.pid("a"), 0)
    assert "b" not in rig.sup.instances
    assert len(rig.host.pids_of("a")) == 2 and rig.host.pids_of("c")


def test_scale_when_replicas_raised_starts_new_instances():
    """scale(engine, n) runs n instances named engine-0..n-1."""
    rig = Rig(engine("w"))
    rig.sup.start_all()
    assert rig.sup.scale("w", 2) == ["w-0", "w-1"]
    assert set(rig.host.pids_of("w-0") + rig.host.pids_of("w-1"))


def test_status_when_running_lists_every_engine_with_fields():
    """status() carries the documented keys for each engine."""
    rig = Rig(engine("a"))
    rig.sup.start_all()
    rig.ready("a")
    doc = rig.sup.status()
    entry = doc["engines"][0]
    for key in ("name", "state", "pid", "cpus", "group", "ready", "restarts", "uptime_s",
                "heartbeat_age_ms", "last_exit", "counters"):
        assert key in entry
    assert entry["state"] == "READY" and doc["daemon"]["health"] == "healthy"


def test_exit_when_engine_crashes_event_names_pid_code_and_restart_count():
    """The exited event is a complete record: engine, old pid, exit code, reason, restarts."""
    rig = Rig(engine("a", cpus=(1,)))
    rig.sup.start_all()
    pid = rig.pid("a")
    rig.crash("a", 7)
    exited = next(f for _, e, f in rig.events if e == "exited")
    assert exited["pid"] == pid and exited["exit_code"] == 7 and exited["reason"] == "exit"
    assert exited["engine"] == "a" and exited["cpus"] == [1] and exited["restarts"] == 0
    restarting = next(f for _, e, f in rig.events if e == "restarting")
    assert restarting["restarts"] == 1 and restarting["backoff_s"] == 0.0


def test_crash_when_shutting_down_is_not_restarted_and_shutdown_completes():
    """An engine that dies while waiting for its turn to stop stays down."""
    rig = Rig(engine("a"), engine("b", after=("a",)))
    rig.sup.start_all()
    rig.ready("a")
    rig.ready("b")
    done: list[bool] = []
    rig.sup.add_stopped_listener(lambda: done.append(True))
    rig.sup.shutdown()
    rig.crash("a")  # still waiting for b to stop first
    rig.host.exit(rig.pid("b"), 0)
    assert done == [True] and len(rig.host.pids_of("a")) == 1
    assert rig.state("a") is State.STOPPED


def test_pin_when_core_missing_raises_and_keeps_cores():
    """pin() to a core the host lacks is refused with a typed error; nothing moves."""
    from nautilusd.errors import PinError

    rig = Rig(engine("a", cpus=(0,)))
    rig.sup.start_all()
    with pytest.raises(PinError) as refused:
        rig.sup.pin("a", [0, 9])
    message = str(refused.value)
    assert "a: cpu 9 not on this host (it has cpus 0" in message and "None" not in message
    assert rig.sup.instances["a"].cpus == (0,)
    assert rig.sup.pin("a", [1]) == [1] and rig.sup.instances["a"].cpus == (1,)


def _rings_rig(shm_dir, critical: bool):
    """positions reads a block fills ring from execution and an overwrite ticks ring from
    marketdata; positions' group is `critical`."""
    fills = RingConfig(name="fills", record="fill", capacity=64, policy=Policy.BLOCK,
                       writer="execution", readers=("positions",))
    ticks = RingConfig(name="ticks", record="tick", capacity=64, policy=Policy.OVERWRITE,
                       writer="marketdata", readers=("positions",))
    rig = Rig(engine("execution"), engine("marketdata"),
              engine("positions", max_restarts=0, group="support", backoff_initial_ms=1),
              groups=[group("support", "one_for_one", critical=critical)],
              supervisor=SupervisorConfig(instance="rel", shm_dir=shm_dir))
    rig.topo = dataclasses.replace(rig.topo, rings=MappingProxyType({"fills": fills,
                                                                     "ticks": ticks}))
    rig.sup.topology = rig.topo
    rig.sup.rings = RingSet.create(rig.topo, shm_dir)
    return rig


@pytest.mark.timeout(20)
@pytest.mark.parametrize("critical", [False, True])
def test_fatal_reader_when_group_not_critical_frees_its_block_ring_slot(shm_dir, critical):
    """A FATAL observer stops gating the fills ring (execution could otherwise block on a
    full ring behind it), with an event naming ring, slot and unread records; a FATAL
    engine of a critical group keeps its block-ring slot (the order path fails closed).
    Its overwrite ticks slot goes either way: it gates nothing."""
    rig = _rings_rig(shm_dir, critical)
    try:
        writer = RingWriter.attach(paths.ring_segment("rel", "fills"), FILL, shm_dir)
        writer.write(np.zeros(5, FILL))
        rig.sup.start_all()
        rig.crash("positions")
        assert rig.state("positions") is State.FATAL
        released = [{k: f[k] for k in ("ring", "slot", "unread")}
                    for n, e, f in rig.events if e == "reader_released"]
        ticks = {"ring": "ticks", "slot": 0, "unread": 0}
        if critical:
            assert released == [ticks] and writer.free() == 64 - 5
        else:
            assert sorted(released, key=str) == sorted(
                [{"ring": "fills", "slot": 0, "unread": 5}, ticks], key=str)
            assert writer.free() == 64  # nobody gates the writer any more
        assert not rig.sup.rings.rings["ticks"].stats()["readers"][0]["active"]
        writer.close()
    finally:
        rig.sup.rings.destroy()


def test_reload_when_fatal_engine_changed_starts_it_and_every_engine_it_stopped():
    """rest_for_one: a FATAL b stops c; a reload that changes b starts b and c again."""
    core = [group("core", "rest_for_one")]
    rig = Rig(engine("a", group="core"), engine("b", group="core", max_restarts=0),
              engine("c", group="core", after=("b",)), groups=core)
    rig.sup.start_all()
    for name in ("a", "b", "c"):
        rig.ready(name)
    rig.crash("b")
    rig.crash("c", 0)  # it drained after its SIGTERM
    assert rig.state("b") is State.FATAL and rig.state("c") is State.STOPPED
    fixed = dataclasses.replace(rig.topo.engines["b"], max_restarts=2)
    new = dataclasses.replace(rig.topo, engines=MappingProxyType({**rig.topo.engines,
                                                                  "b": fixed}))
    assert rig.sup.reload(new)["changed"] == ["b"]
    rig.ready("b")
    assert rig.state("c") is State.STARTING and len(rig.host.pids_of("c")) == 2
