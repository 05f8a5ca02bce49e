"""nautilusctl against a real nautilusd subprocess: every command, reload, pin, health, fuzz."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import psutil
import pytest
import zmq
from _ctl_daemon import BIN, DEFAULT_ENGINES, Daemon, engine_toml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engines.bus import Subscriber

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def daemon(tmp_path: Path, runtime_dir: Path, shm_dir: Path) -> Iterator[Daemon]:
    with Daemon(tmp_path, runtime_dir, shm_dir) as d:
        yield d


def test_status_rings_top_check_when_daemon_runs_print_tables_and_json(daemon: Daemon) -> None:
    """status, rings, top and check answer in tables and in JSON with live engine pids; call
    finds through info that no engine serves methods."""
    status = daemon.ctl("status")
    assert status.returncode == 0 and status.stdout.splitlines()[2].startswith("ENGINE")
    doc = json.loads(daemon.ctl("status", "--json").stdout)
    assert doc["daemon"]["pid"] == daemon.proc.pid and "metrics_url" in doc["daemon"]
    assert {e["name"] for e in doc["engines"]} == {"alpha", "beta", "gamma"}
    assert all(psutil.pid_exists(e["pid"]) for e in doc["engines"])
    rings = json.loads(daemon.ctl("rings", "--json").stdout)["rings"]
    assert rings[0]["name"] == "r1" and rings[0]["writer"] == "alpha"
    assert rings[0]["readers"][0]["name"] == "beta"
    assert "LAG" in daemon.ctl("rings").stdout
    top = daemon.ctl("top", "--once")
    assert top.returncode == 0 and "gamma" in top.stdout and "r1" in top.stdout
    frame = json.loads(daemon.ctl("top", "--once", "--json").stdout)
    assert set(frame) == {"status", "rings"}
    assert daemon.ctl("check", str(daemon.config)).returncode == 0
    assert daemon.request("info")["services"] == {}  # the reference engine serves nothing
    call = daemon.ctl("call", "alpha", "alpha.status")
    assert call.returncode == 1 and "engine 'alpha' serves no methods" in call.stderr


def test_lifecycle_commands_when_targets_given_change_states(daemon: Daemon) -> None:
    """stop/start/restart act on an engine, a group and all; scale adds replicas."""
    before = daemon.pids()
    assert daemon.ctl("stop", "alpha").stdout == "stopped: alpha\n"
    daemon.wait_for(lambda: daemon.engines()["alpha"]["state"] == "STOPPED")
    assert not psutil.pid_exists(before["alpha"]) or \
        psutil.Process(before["alpha"]).status() == psutil.STATUS_ZOMBIE
    assert daemon.ctl("start", "alpha").returncode == 0
    daemon.wait_for(daemon.all_ready)
    assert daemon.ctl("restart", "critical").stdout == "restarted: gamma\n"
    daemon.wait_for(lambda: daemon.all_ready() and daemon.pids()["gamma"] != before["gamma"])
    assert daemon.pids()["beta"] == before["beta"]
    assert daemon.ctl("restart", "all").returncode == 0
    daemon.wait_for(lambda: daemon.all_ready() and daemon.pids()["beta"] != before["beta"])
    unknown = daemon.ctl("stop", "nope")
    assert unknown.returncode == 1 and "UNKNOWN_TARGET" in unknown.stderr
    scaled = json.loads(daemon.ctl("scale", "gamma", "2", "--json").stdout)
    assert scaled["instances"] == ["gamma-0", "gamma-1"]
    daemon.wait_for(lambda: {"gamma-0", "gamma-1"} <= set(daemon.engines())
                    and daemon.all_ready())


def test_events_when_engine_restarted_streams_lifecycle_events(daemon: Daemon) -> None:
    """events TOPIC tails the bus: a restart shows up as system.engine.<name>.* events."""
    tail = subprocess.Popen([str(BIN / "nautilusctl"), "events", "system.engine.beta.",
                             "--json", "--count", "2", "--timeout-s", "20", "--runtime-dir",
                             str(daemon.runtime_dir)], stdout=subprocess.PIPE, text=True)
    # restart until the tail, which subscribes asynchronously, has seen two events
    out = _restart_beta_until_exited(daemon, tail)
    events = [json.loads(line) for line in out.splitlines()]
    assert len(events) == 2
    assert all(e["topic"].startswith("system.engine.beta.") for e in events)
    assert events[0]["payload"]["name"] == "beta"


def test_events_when_piped_into_head_exits_quietly(daemon: Daemon) -> None:
    """`nautilusctl events | head -1`: one line out, and nautilusctl, whose next write finds
    the pipe closed, exits 0 with nothing on stderr (no BrokenPipeError traceback)."""
    pipeline = (f'set -o pipefail; "{BIN / "nautilusctl"}" events system.engine.beta. '
                f'--timeout-s 30 --runtime-dir "{daemon.runtime_dir}" 2>"$1" | head -1')
    err_log = daemon.runtime_dir / "events.err"
    tail = subprocess.Popen(["bash", "-c", pipeline, "bash", str(err_log)],
                            stdout=subprocess.PIPE, text=True)
    # restart until the tail has seen an event and has written again into the closed pipe
    out = _restart_beta_until_exited(daemon, tail)
    assert len(out.splitlines()) == 1 and out.startswith("system.engine.beta.")
    assert (tail.returncode, err_log.read_text()) == (0, "")


def _restart_beta_until_exited(daemon: Daemon, tail: subprocess.Popen[str]) -> str:
    """Restart beta until `tail` (an events client) has exited; its output. A tail still
    running at the deadline is killed, so no client outlives the test."""
    try:
        daemon.wait_for(lambda: daemon.ctl("restart", "beta").returncode == 0
                        and _exited_within(tail, 2.0), timeout_s=30)
        out, _ = tail.communicate(timeout=10)
        return out
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.wait()


def _exited_within(proc: subprocess.Popen[str], timeout_s: float) -> bool:
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        return False
    return True


def test_logs_when_no_records_says_where_it_looked(daemon: Daemon, tmp_path: Path) -> None:
    """logs ENGINE reads the daemon's recorded sink (exit 0); with no daemon, no sink and no
    journal records it says where it looked and exits 1."""
    assert daemon.ctl("logs", "alpha").returncode == 0
    empty = tmp_path / "no-daemon"
    empty.mkdir(mode=0o700)
    result = subprocess.run([str(BIN / "nautilusctl"), "logs", "alpha-nowhere-xyz",
                             "--runtime-dir", str(empty)], capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 1 and "no logs for engine 'alpha-nowhere-xyz'" in result.stderr
    assert str(empty) in result.stderr


LOGS_SCENARIO = """
set -eu
mount -t tmpfs -o mode=0755 tmpfs /run/systemd
mkdir -p /run/systemd/journal
mount -t tmpfs -o mode=0755 tmpfs /run/log
[ -f /etc/systemd/journald.conf ] && mount --bind "$WORK/journald.conf" /etc/systemd/journald.conf
/lib/systemd/systemd-journald &
JPID=$!
trap 'kill $JPID 2>/dev/null; wait $JPID 2>/dev/null || true' EXIT
n=0
until [ -S /run/systemd/journal/socket ]; do
    n=$((n + 1)); [ $n -lt 200 ] || exit 3; sleep 0.05
done
JOURNAL_STREAM=0:0 "$PY" -c "$LOG_CODE"
n=0
until journalctl -q -o cat ENGINE=alpha | grep -q fill.booked; do
    n=$((n + 1)); [ $n -lt 200 ] || exit 4; sleep 0.05
done
"$CTL" logs alpha --runtime-dir "$WORK"
"""
LOG_CODE = ("from engines.log import configure_logging, get_logger; "
            "configure_logging('auto', 'info', instance='t', engine='alpha'); "
            "get_logger().info('fill.booked', qty=5); "
            "configure_logging('auto', 'info', instance='t', engine='beta'); "
            "get_logger().info('beta.only')")


@pytest.mark.skipif(shutil.which("unshare") is None or shutil.which("journalctl") is None
                    or not Path("/lib/systemd/systemd-journald").exists(),
                    reason="needs unshare, journalctl and systemd-journald")
def test_logs_when_journal_has_engine_records_prints_only_that_engine(tmp_path: Path) -> None:
    """With a (private) journald holding ENGINE=alpha records, logs alpha prints just those."""
    (tmp_path / "scenario.sh").write_text(LOGS_SCENARIO)
    (tmp_path / "journald.conf").write_text("[Journal]\nStorage=volatile\nForwardToSyslog=no\n"
                                            "ForwardToKMsg=no\nForwardToConsole=no\n")
    env = {**os.environ, "WORK": str(tmp_path), "PY": sys.executable, "LOG_CODE": LOG_CODE,
           "CTL": str(BIN / "nautilusctl")}
    env.pop("NAUTILUSD_JOURNAL_SOCKET", None)
    proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh",
                             str(tmp_path / "scenario.sh")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    assert proc.returncode == 0, err
    assert "fill.booked" in out and "beta.only" not in out


def test_reload_when_one_engine_changed_restarts_only_that_engine(daemon: Daemon) -> None:
    """A reload with beta's params changed restarts beta; alpha's and gamma's pids stay."""
    before = daemon.pids()
    changed = DEFAULT_ENGINES.replace(engine_toml("beta", (1,)),
                                      engine_toml("beta", (1,), drain_s=0.0))
    new = daemon.write_config("changed.toml", changed)
    result = daemon.ctl("reload", str(new), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "added": [], "changed": ["beta"], "removed": [], "rings_added": [],
        "rings_removed": [], "rings_changed": []}
    daemon.wait_for(lambda: daemon.all_ready() and daemon.pids()["beta"] != before["beta"])
    after = daemon.pids()
    assert (after["alpha"], after["gamma"]) == (before["alpha"], before["gamma"])


def test_reload_when_config_invalid_is_rejected_and_nothing_changes(daemon: Daemon) -> None:
    """An invalid new config is refused with the loader's message; every pid stays."""
    before = daemon.pids()
    bad = daemon.write_config("bad.toml", DEFAULT_ENGINES.replace("cpus = [1]", "cpus = [-5]"))
    result = daemon.ctl("reload", str(bad))
    assert result.returncode == 1 and "CONFIG_INVALID" in result.stderr
    assert "bad.toml" in result.stderr
    assert daemon.pids() == before


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_pin_when_engine_moved_changes_affinity_as_psutil_sees(daemon: Daemon) -> None:
    """pin alpha 1 moves the live process: psutil reads the new affinity."""
    pid = daemon.pids()["alpha"]
    assert psutil.Process(pid).cpu_affinity() == [0]
    result = daemon.ctl("pin", "alpha", "1")
    assert result.returncode == 0 and result.stdout == "alpha pinned to cpus 1\n"
    assert psutil.Process(pid).cpu_affinity() == [1]
    assert daemon.engines()["alpha"]["cpus"] == [1] and daemon.pids()["alpha"] == pid


def test_health_when_engines_fail_exit_code_follows_states(tmp_path: Path, runtime_dir: Path,
                                                           shm_dir: Path) -> None:
    """health: 0 all ready; 1 a non-critical engine FATAL; 2 a critical one FATAL; 2 no daemon."""
    d = Daemon(tmp_path, runtime_dir, shm_dir)
    try:
        assert d.ctl("health").returncode == 0
        events = Subscriber(d.status()["daemon"]["bus_sub"], ("system.engine.",))
        try:  # a restart's events arriving prove the subscription has reached the proxy
            d.wait_for(lambda: d.ctl("restart", "beta").returncode == 0
                       and events.recv(2000) is not None)
            d.wait_for(d.all_ready)
            engines = DEFAULT_ENGINES + engine_toml("crasher", (0,), crash_after_s=0.05,
                                                    crash_code=7)
            new = d.write_config("degraded.toml", engines)
            assert d.ctl("reload", str(new)).returncode == 0
            d.wait_for(lambda: d.engines()["crasher"]["state"] == "FATAL")
            seen = [m for m in _drain(events) if m[0].startswith("system.engine.crasher.")]
        finally:
            events.close()
        assert {"spawned", "exited", "fatal"} <= {topic.rsplit(".", 1)[1] for topic, _ in seen}
        exited = next(p for t, p in seen if t == "system.engine.crasher.exited")
        assert exited["exit_code"] == 7 and exited["name"] == "crasher"
        degraded = d.ctl("health")
        assert degraded.returncode == 1 and "crasher" in degraded.stdout
        engines += engine_toml("critcrash", (0,), group="critical", crash_after_s=0.05)
        d.write_config("degraded.toml", engines)
        assert d.ctl("reload", str(new)).returncode == 0
        d.wait_for(lambda: d.engines()["critcrash"]["state"] == "FATAL")
        assert d.ctl("health").returncode == 2
    finally:
        d.stop()
    assert d.ctl("health").returncode == 2


def _drain(sub: Subscriber) -> list[tuple[str, Any]]:
    """Every event that has arrived, waiting up to a second for the first."""
    seen = []
    message = sub.recv(1000)
    while message is not None:
        seen.append(message)
        message = sub.recv(200)
    return seen


def test_shutdown_when_requested_daemon_and_engines_exit(daemon: Daemon) -> None:
    """shutdown stops every engine and the daemon exits 0; then status says not running."""
    pids = list(daemon.pids().values())
    assert daemon.ctl("shutdown").returncode == 0
    assert daemon.proc.wait(30) == 0
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"
                   for p in pids)
    after = daemon.ctl("status")
    assert after.returncode == 3 and after.stdout == ""
    assert after.stderr.startswith("nautilusd is not running")


def test_daemon_when_fuzzed_on_control_and_bus_stays_up(daemon: Daemon) -> None:
    """Random bytes on the control socket and random frames on the bus: daemon, engines and
    their pids survive, and the next valid request is answered."""
    before = daemon.pids()
    bus_pub = daemon.status()["daemon"]["bus_pub"]
    ctx = zmq.Context()
    control, bus = ctx.socket(zmq.DEALER), ctx.socket(zmq.PUB)
    try:
        control.linger = bus.linger = 0
        control.connect(daemon.endpoint)
        bus.connect(bus_pub)

        @settings(max_examples=60, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(control_frames=st.lists(st.binary(max_size=256), min_size=1, max_size=3),
               bus_frames=st.lists(st.binary(max_size=256), min_size=1, max_size=3),
               cmd=st.text(max_size=30))
        def fuzz(control_frames: list[bytes], bus_frames: list[bytes], cmd: str) -> None:
            control.send_multipart(control_frames)
            assert control.poll(5000), "daemon stopped answering"
            control.recv_multipart()
            control.send(msgpack.packb({"cmd": f"x{cmd}", "args": {}, "id": 1}))
            assert control.poll(5000)
            reply = msgpack.unpackb(control.recv_multipart()[-1])
            assert reply["error"]["code"] == "UNKNOWN_COMMAND"
            bus.send_multipart([b"system.engine.fuzz", *bus_frames])

        fuzz()
    finally:
        control.close()
        bus.close()
        ctx.term()
    assert daemon.proc.poll() is None
    assert daemon.pids() == before and daemon.all_ready()


@pytest.mark.parametrize("stale", [False, True])
def test_call_when_no_daemon_prints_one_line_and_exits_3_within_a_second(
        runtime_dir: Path, stale: bool) -> None:
    """`nautilusctl call risk risk.status` with no daemon (or a stale socket a SIGKILLed one
    left): one line on stderr, exit 3, in under a second; with --json the error is JSON."""
    if stale:
        import socket

        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(runtime_dir / "control.sock"))
        sock.close()  # the file stays, nothing listens: what a SIGKILLed daemon leaves
    argv = [str(BIN / "nautilusctl"), "call", "risk", "risk.status", "--runtime-dir",
            str(runtime_dir)]
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    took_s = time.monotonic() - started
    # The defect this guards against is the request time-out (5-10 s) on a dead socket; the
    # reachability check answers before any connect (~0.2 s here, mostly interpreter start).
    assert done.returncode == 3 and done.stdout == "" and took_s < 5.0, (took_s, done)
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("nautilusd is not running (")
    as_json = subprocess.run([*argv, "--json"], capture_output=True, text=True, timeout=10,
                             check=False)
    assert as_json.returncode == 3
    assert json.loads(as_json.stdout) == {"error": done.stderr.strip(), "exit_code": 3}
