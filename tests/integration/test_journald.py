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
# the volatile journal), a private journald.conf, journald itself, then the query.
SCENARIO = textwrap.dedent("""
    set -eu
    mount -t tmpfs -o mode=0755 tmpfs /run/systemd
    mkdir -p /run/systemd/journal
    mount -t tmpfs -o mode=0755 tmpfs /run/log
    if [ -f /etc/systemd/journald.conf ]; then
        mount --bind "$WORK/journald.conf" /etc/systemd/journald.conf
    fi
    /lib/systemd/systemd-journald &
    JPID=$!
    trap 'kill $JPID 2>/dev/null; wait $JPID 2>/dev/null || true' EXIT
    echo "JOURNALD_PID=$JPID"
    n=0
    until [ -S /run/systemd/journal/socket ]; do
        n=$((n + 1)); [ $n -lt 200 ] || { echo "no journal socket" >&2; exit 3; }
        sleep 0.05
    done
    JOURNAL_STREAM=0:0 "$PY" "$WORK/engine.py" risk
    JOURNAL_STREAM=0:0 "$PY" "$WORK/engine.py" md
    n=0
    until [ "$(journalctl -D /run/log/journal ENGINE=risk -o json --all | wc -l)" -ge 3 ]; do
        n=$((n + 1)); [ $n -lt 200 ] || { echo "records never arrived" >&2; exit 4; }
        sleep 0.05
    done
    echo "---CTL---"
    "$CTL" logs risk
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


def run_scenario(work: Path) -> tuple[int, str, list[dict[str, Any]]]:
    """Run the scenario in its own namespace and session: journald's pid, the output of
    `nautilusctl logs risk` and the records of `journalctl ENGINE=risk -o json`."""
    (work / "engine.py").write_text(ENGINE_SCRIPT)
    (work / "scenario.sh").write_text(SCENARIO)
    (work / "journald.conf").write_text(
        "[Journal]\nStorage=volatile\nForwardToSyslog=no\nForwardToKMsg=no\n"
        "ForwardToConsole=no\nForwardToWall=no\n"
    )
    env = {**os.environ, "WORK": str(work), "PY": sys.executable, "PYTHONPATH": str(ROOT),
           "CTL": str(Path(sys.executable).with_name("nautilusctl"))}
    env.pop("NAUTILUSD_JOURNAL_SOCKET", None)
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
    head, _, ctl_logs = head.partition("---CTL---\n")
    pid = int(head.split("JOURNALD_PID=")[1].split()[0])
    return pid, ctl_logs, [json.loads(line) for line in journal.splitlines() if line.strip()]


def test_journalctl_when_engine_logs_natively_finds_fields_by_engine(tmp_path: Path) -> None:
    """journalctl ENGINE=risk returns risk's records with every field, none of md's."""
    reason = _unshare_allowed()
    if reason:
        pytest.skip(reason)
    socket_existed = Path("/run/systemd/journal/socket").exists()
    journald_pid, ctl_logs, records = run_scenario(tmp_path)
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
    assert "limit.breached symbol=AAPL" in ctl_logs and "handler.failed" in ctl_logs
    # Cleanup: journald is gone and its namespace took the mounts with it.
    assert not psutil.pid_exists(journald_pid) or psutil.Process(journald_pid).status() == "zombie"
    assert Path("/run/systemd/journal/socket").exists() == socket_existed
