"""Tests of nautilusctl in-process against a real ControlServer with a stand-in supervisor."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from _control_standins import FakeSupervisor, ServedControl

from nautilusd.ctl import main as cli

pytestmark = pytest.mark.timeout(30)


def run(runtime_dir: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main([*argv, "--runtime-dir", str(runtime_dir)], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_status_when_daemon_runs_prints_aligned_table(runtime_dir: Path) -> None:
    """status prints a header line and one aligned row per engine."""
    with ServedControl(runtime_dir):
        code, out, _ = run(runtime_dir, "status")
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("ENGINE"))
    rows = [line for line in lines if line.split()[:1] in (["marketdata"], ["strategy"],
                                                           ["risk"])]
    assert code == 0 and len(rows) == 3
    assert all(row.index("READY") == header.index("STATE") for row in rows)


def test_status_when_json_prints_the_document(runtime_dir: Path) -> None:
    """status --json prints the daemon document with daemon, engines and rings."""
    with ServedControl(runtime_dir):
        code, out, _ = run(runtime_dir, "status", "--json")
    doc = json.loads(out)
    assert code == 0 and set(doc) == {"daemon", "engines", "rings"}
    assert {"name", "state", "pid", "cpus", "ready", "restarts", "uptime_s",
            "heartbeat_age_ms"} <= set(doc["engines"][0])


@pytest.mark.parametrize(("command", "expected"), [(["status"], 3), (["health"], 2),
                                                    (["stop", "all"], 3)])
def test_command_when_no_daemon_prints_one_line_and_exits_distinct(
        runtime_dir: Path, command: list[str], expected: int) -> None:
    """Without a daemon: one line naming the socket path, exit 3 (health: 2)."""
    code, out, err = run(runtime_dir, *command)
    assert code == expected and out == ""
    assert err == f"nautilusd is not running (no control socket at {runtime_dir}/control.sock)\n"


def test_start_when_target_unknown_exits_1_with_code(runtime_dir: Path) -> None:
    """An error reply is printed with its code and exits 1."""
    with ServedControl(runtime_dir):
        code, _, err = run(runtime_dir, "start", "nope")
    assert code == 1 and err.startswith("error: UNKNOWN_TARGET: unknown target: 'nope'")


def test_stop_when_group_given_reports_affected_engines(runtime_dir: Path) -> None:
    """stop GROUP stops that group's engines and names them."""
    with ServedControl(runtime_dir) as served:
        code, out, _ = run(runtime_dir, "stop", "critical")
    assert code == 0 and out == "stopped: risk\n"
    assert served.supervisor.engines["risk"]["state"] == "STOPPED"


def test_pin_when_range_given_sends_expanded_cpus(runtime_dir: Path) -> None:
    """pin ENGINE 0-1 sends [0, 1] and prints the verified set."""
    with ServedControl(runtime_dir) as served:
        code, out, _ = run(runtime_dir, "pin", "risk", "0-1")
    assert code == 0 and out == "risk pinned to cpus 0-1\n"
    assert served.supervisor.engines["risk"]["cpus"] == [0, 1]


def test_parse_cpus_when_malformed_names_the_bad_part() -> None:
    """A bad core list is refused with the offending part in the message."""
    assert cli.parse_cpus("0-2,5") == [0, 1, 2, 5]
    with pytest.raises(ValueError, match="'x'"):
        cli.parse_cpus("1,x")


@pytest.mark.parametrize("health_code", [0, 1, 2])
def test_health_when_supervisor_reports_code_exits_with_it(runtime_dir: Path,
                                                           health_code: int) -> None:
    """health's exit status is the supervisor's health code."""
    supervisor = FakeSupervisor()
    supervisor.health_code = health_code
    with ServedControl(runtime_dir, supervisor):
        code, out, _ = run(runtime_dir, "health")
    assert code == health_code
    assert out.split(";")[0].strip() == ("healthy", "degraded", "down")[health_code]


def test_rings_when_requested_prints_ring_and_reader_tables(runtime_dir: Path) -> None:
    """rings prints per ring its fill and overruns, and per reader its lag."""
    with ServedControl(runtime_dir):
        code, out, _ = run(runtime_dir, "rings")
    assert code == 0 and "FILL" in out and "LAG" in out
    ring_line = next(line for line in out.splitlines() if line.startswith("ticks  overwrite"))
    assert "23.8%" in ring_line and "BOARD" in out and ring_line.split()[-1] == "4"


def test_reload_when_config_unreadable_exits_1_and_keeps_running(runtime_dir: Path) -> None:
    """reload of a missing file is rejected with CONFIG_INVALID; the daemon still answers."""
    with ServedControl(runtime_dir):
        code, _, err = run(runtime_dir, "reload", str(runtime_dir / "nope.toml"))
        assert code == 1 and "CONFIG_INVALID" in err and "nope.toml" in err
        assert run(runtime_dir, "status")[0] == 0


def test_top_when_once_prints_engines_and_rings(runtime_dir: Path) -> None:
    """top --once prints one frame with engines and rings."""
    with ServedControl(runtime_dir):
        code, out, _ = run(runtime_dir, "top", "--once")
    assert code == 0 and "marketdata" in out and "ticks" in out


def test_check_when_config_invalid_delegates_and_exits_2(tmp_path: Path) -> None:
    """check CONFIG runs nautilusd.config.check and returns its exit code."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[engines.x]\nentry = 5\n")
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["check", str(bad)], out=out, err=err) == 2
    assert "bad.toml" in err.getvalue()


def test_logs_when_nothing_recorded_says_so(runtime_dir: Path) -> None:
    """logs for an engine without journal records or log file says where it looked."""
    code, _, err = run(runtime_dir, "logs", "ghost-engine-xyz")
    assert code == 1 and "no logs for engine 'ghost-engine-xyz'" in err


def test_logs_when_log_file_exists_prints_its_tail(runtime_dir: Path) -> None:
    """Without journal records, logs falls back to <runtime_dir>/logs/<engine>.log."""
    (runtime_dir / "logs").mkdir()
    (runtime_dir / "logs" / "ghost-engine-xyz.log").write_text("line one\nline two\n")
    code, out, _ = run(runtime_dir, "logs", "ghost-engine-xyz")
    assert code == 0 and out == "line one\nline two\n"


def test_bench_when_suite_unknown_exits_2() -> None:
    """An unknown bench suite is a usage error naming it."""
    assert cli.main(["bench", "no_such_suite"]) == 2


def test_import_when_cli_loaded_pulls_no_engine_or_ring_code() -> None:
    """nautilusctl imports neither engines nor shm (nor numpy) at module level."""
    code = ("import sys, nautilusd.ctl.main; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('engines', 'shm', 'numpy')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=20)
    assert result.stdout.strip() == "[]"
