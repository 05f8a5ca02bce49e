"""`nautilusctl logs ENGINE` finds an engine's records wherever the daemon logs: the runtime
dir's log under `make run` (--summary) and a redirected stdout. (supervisord and a private
journald: tests/integration/test_supervisord.py and test_journald.py.)"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest
from _ctl_daemon import BIN, DEFAULT_ENGINES, Daemon, config_toml

pytestmark = pytest.mark.timeout(120)


def _logs(runtime_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "nautilusctl"), "logs", *argv, "--runtime-dir",
                           str(runtime_dir)], capture_output=True, text=True, timeout=30,
                          check=False)


def test_logs_when_daemon_runs_like_make_run_prints_that_engines_records(
        tmp_path: Path, runtime_dir: Path, shm_dir: Path) -> None:
    """--summary sends every log line to <runtime_dir>/nautilusd.log: logs alpha prints
    alpha's records (and no other engine's), --json the records themselves."""
    config = tmp_path / "run.toml"
    config.write_text(config_toml(shm_dir, DEFAULT_ENGINES, f"logs-{uuid.uuid4().hex[:8]}")
                      .replace('log_level = "warning"', 'log_level = "info"'))
    proc = subprocess.Popen([str(BIN / "nautilusd"), "run", "--config", str(config),
                             "--runtime-dir", str(runtime_dir), "--summary"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    d = Daemon.__new__(Daemon)  # the helpers of Daemon over this process
    d.tmp, d.runtime_dir, d.proc = tmp_path, runtime_dir, proc
    d.endpoint = f"ipc://{runtime_dir}/control.sock"
    d.log = (tmp_path / "unused.log").open("wb")
    try:
        d.wait_for(d.all_ready, timeout_s=60)
        sink = json.loads((runtime_dir / "log-sink.json").read_text())
        assert sink["kind"] == "file" and sink["path"] == str(runtime_dir / "nautilusd.log")
        d.wait_for(lambda: "reference_engine_started" in _logs(runtime_dir, "alpha").stdout)
        shown = _logs(runtime_dir, "alpha")
        assert shown.returncode == 0 and "beta" not in shown.stdout
        records = [json.loads(line) for line in _logs(runtime_dir, "alpha", "--json")
                   .stdout.splitlines()]
        assert records and {r["engine"] for r in records} == {"alpha"}
    finally:
        d.stop()


def test_logs_when_stdout_redirected_to_a_file_reads_that_file(
        tmp_path: Path, runtime_dir: Path, shm_dir: Path) -> None:
    """A daemon whose stdout is a file (`nautilusd run ... > file`) records that file; its
    shutdown removes its sockets."""
    d = Daemon(tmp_path, runtime_dir, shm_dir)
    try:
        assert json.loads((runtime_dir / "log-sink.json").read_text())["path"] == str(
            tmp_path / "daemon.log")
        missing = _logs(runtime_dir, "nosuch")
        assert missing.returncode == 0 and missing.stdout == ""
        assert (runtime_dir / "bus-in.sock").exists()
    finally:
        d.stop()
    # shutdown leaves no socket a client could connect to in vain
    assert sorted(p.name for p in runtime_dir.glob("*.sock")) == []
