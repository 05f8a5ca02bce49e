"""A real systemd-journald, started by the test in a private mount namespace, receives the
native-protocol records of engines.log and answers `journalctl ENGINE=risk -o json` and
`nautilusctl logs risk`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

pytestmark = pytest.mark.timeout(90)

JOURNALD = Path("/lib/systemd/systemd-journald")
ROOT = Path(__file__).resolve().parents[2]

# The engine side: two processes, as nautilusd would run them, each logging under "systemd"
# (JOURNAL_STREAM set, fmt="auto", the default journal socket).
ENGINE_SCRIPT = textwrap.dedent("""
    import sys
    from engines.log import configure_logging, get_logger, log_stats
    engine = sys.argv[1]
    configure_logging("auto", "debug", instance="blue", engine=engine)
    log = get_logger(symbol="AAPL")
    log.warning("limit.breached", qty=500, **{"order-id": 42})
    try:
        raise ValueError("bad price")
    except ValueError:
        log.exception("handler.failed")
    log.info("book.snapshot", levels="L" * 300_000)
    stats = log_stats()
    assert stats["format"] == "journald" and stats["fallbacks"] == 0, stats
    assert stats["sent"] == 3 and stats["sent_memfd"] == 1, stats
""")

# The namespace side: private tmpfs on /run/systemd and /run/log (the socket directory and
# the volatile journal), a private journald.conf and journald itself; then a body logs and
# the records of ENGINE=risk are printed after a marker.
PROLOGUE = textwrap.dedent("""
    set -eu
    mount -t tmpfs -o mode=0755 tmpfs /run/systemd
    mkdir -p /run/systemd/journal
    mount -t tmpfs -o mode=0755 tmpfs /run/log
    if [ -f /etc/systemd/journald.conf ]; then
        mount --bind "$WORK/journald.conf" /etc/systemd/journald.conf
    fi
    DPID=""
    /lib/systemd/systemd-journald &
    JPID=$!
    trap '[ -z "$DPID" ] || kill -9 $DPID 2>/dev/null; kill $JPID 2>/dev/null;
          wait $JPID 2>/dev/null || true' EXIT
    echo "JOURNALD_PID=$JPID"
    n=0
    until [ -S /run/systemd/journal/socket ]; do
        n=$((n + 1)); [ $n -lt 200 ] || { echo "no journal socket" >&2; exit 3; }
        sleep 0.05
    done
    await() {  # await MIN_RECORDS MATCH...: poll the journal with a 10 s deadline
        want=$1; shift; n=0
        until [ "$(journalctl -D /run/log/journal "$@" -o json --all | wc -l)" -ge "$want" ]; do
            n=$((n + 1)); [ $n -lt 200 ] || { echo "records never arrived: $*" >&2; exit 4; }
            sleep 0.05
        done
    }
""")

ENGINES_BODY = textwrap.dedent("""
    JOURNAL_STREAM=0:0 "$PY" "$WORK/engine.py" risk
    JOURNAL_STREAM=0:0 "$PY" "$WORK/engine.py" md
    await 3 ENGINE=risk
    echo "---CTL---"
    "$CTL" logs risk --runtime-dir "$WORK/no-daemon"  # no sink recorded: the journal
""")

# The real daemon under "systemd": nautilusd and its engine both log natively.
DAEMON_BODY = textwrap.dedent("""
    JOURNAL_STREAM=0:0 "$NAUTILUSD" run --config "$WORK/topology.toml" --runtime-dir "$WORK/rt" &
    DPID=$!
    await 1 ENGINE=risk EVENT=reference_engine_started
    kill -TERM $DPID
    DRC=0; wait $DPID || DRC=$?
    DPID=""
    echo "DAEMON_RC=$DRC"
""")

EPILOGUE = textwrap.dedent("""
    echo "---JOURNAL---"
    journalctl -D /run/log/journal ENGINE=risk -o json --all --no-pager
""")


def _unshare_allowed() -> str | None:
    """None when a private mount namespace can be made here, else the reason it cannot."""
    if shutil.which("unshare") is None:
        return "unshare is not installed"
    if not JOURNALD.exists() or shutil.which("journalctl") is None:
        return "systemd-journald or journalctl is not installed"
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                           capture_output=True, text=True, timeout=10)
    if probe.returncode != 0:
        return f"unshare -m is not permitted here: {probe.stderr.strip()}"
    return None


def run_scenario(work: Path, body: str) -> tuple[int, str, list[dict[str, Any]]]:
    """Run `body` in its own namespace and session with a private journald: journald's pid,
    what the body printed, and the records of `journalctl ENGINE=risk -o json`."""
    (work / "engine.py").write_text(ENGINE_SCRIPT)
    (work / "scenario.sh").write_text(PROLOGUE + body + EPILOGUE)
    (work / "journald.conf").write_text(
        "[Journal]\nStorage=volatile\nForwardToSyslog=no\nForwardToKMsg=no\n"
        "ForwardToConsole=no\nForwardToWall=no\n"
    )
    bindir = Path(sys.executable).parent
    env = {**os.environ, "WORK": str(work), "PY": sys.executable, "PYTHONPATH": str(ROOT),
           "CTL": str(bindir / "nautilusctl"), "NAUTILUSD": str(bindir / "nautilusd")}
    for key in ("NAUTILUSD_JOURNAL_SOCKET", "NOTIFY_SOCKET", "JOURNAL_STREAM"):
        env.pop(key, None)
    proc = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "sh", str(work / "scenario.sh")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    assert proc.returncode == 0, f"scenario failed ({proc.returncode}): {err}\n{out[-2000:]}"
    head, _, journal = out.partition("---JOURNAL---\n")
    pid = int(head.split("JOURNALD_PID=")[1].split()[0])
    printed = head.split("\n", 1)[1]
    return pid, printed, [json.loads(line) for line in journal.splitlines() if line.strip()]


def _skip_unless_unshare() -> None:
    reason = _unshare_allowed()
    if reason:
        pytest.skip(reason)


def _assert_gone(journald_pid: int, socket_existed: bool) -> None:
    """journald is gone and its namespace took the mounts with it."""
    assert not psutil.pid_exists(journald_pid) or psutil.Process(journald_pid).status() == "zombie"
    assert Path("/run/systemd/journal/socket").exists() == socket_existed


def test_journalctl_when_engine_logs_natively_finds_fields_by_engine(tmp_path: Path) -> None:
    """journalctl ENGINE=risk returns risk's records with every field, none of md's."""
    _skip_unless_unshare()
    socket_existed = Path("/run/systemd/journal/socket").exists()
    journald_pid, printed, records = run_scenario(tmp_path, ENGINES_BODY)
    by_event = {r["EVENT"]: r for r in records}
    assert sorted(by_event) == ["book.snapshot", "handler.failed", "limit.breached"]
    assert {r["ENGINE"] for r in records} == {"risk"}
    breached = by_event["limit.breached"]
    assert breached["MESSAGE"].startswith("limit.breached")
    assert breached["PRIORITY"] == "4" and breached["SYSLOG_IDENTIFIER"] == "nautilusd"
    assert breached["INSTANCE"] == "blue" and breached["ENGINE_PID"] == breached["_PID"]
    assert (breached["SYMBOL"], breached["QTY"], breached["ORDER_ID"]) == ("AAPL", "500", "42")
    assert breached["_TRANSPORT"] == "journal"
    failed = by_event["handler.failed"]
    assert failed["PRIORITY"] == "3" and "ValueError: bad price" in failed["EXCEPTION"]
    assert by_event["book.snapshot"]["LEVELS"] == "L" * 300_000  # came through the memfd
    # nautilusctl logs reads the same journal (the namespace's /run/log/journal).
    ctl_logs = printed.partition("---CTL---\n")[2]
    assert "limit.breached symbol=AAPL" in ctl_logs and "handler.failed" in ctl_logs
    _assert_gone(journald_pid, socket_existed)


def test_journalctl_when_daemon_runs_under_journal_finds_daemon_and_engine_records(
    tmp_path: Path, shm_dir: Path,
) -> None:
    """`nautilusd run` with JOURNAL_STREAM set: its records about risk and risk's own records
    (from the engine process) both answer ENGINE=risk, each with its own ENGINE_PID."""
    _skip_unless_unshare()
    (tmp_path / "topology.toml").write_text(
        f'[supervisor]\ninstance = "jd{uuid.uuid4().hex[:6]}"\nshm_dir = "{shm_dir}"\n'
        'metrics_address = ""\n\n[engines.risk]\nentry = "engines.reference:ReferenceEngine"\n'
        'cpus = [0]\n'
    )
    socket_existed = Path("/run/systemd/journal/socket").exists()
    journald_pid, printed, records = run_scenario(tmp_path, DAEMON_BODY)
    assert "DAEMON_RC=0" in printed
    by_event = {r["EVENT"]: r for r in records}
    spawned, started = by_event["engine_spawned"], by_event["reference_engine_started"]
    assert spawned["SYSLOG_IDENTIFIER"] == started["SYSLOG_IDENTIFIER"] == "nautilusd"
    assert spawned["ENGINE_PID"] == spawned["_PID"]  # logged by nautilusd itself
    assert started["ENGINE_PID"] == started["_PID"] != spawned["_PID"]  # by the engine
    assert spawned["PID"] == started["_PID"]  # the daemon's record names the engine's pid
    assert "engine_stopped" in by_event and all(r["ENGINE"] == "risk" for r in records)
    _assert_gone(journald_pid, socket_existed)
