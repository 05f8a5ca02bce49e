"""Tests of nautilusctl in-process against a real ControlServer with a stand-in supervisor."""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from _control_standins import FakeSupervisor, ServedControl

from nautilusd.control.commands import REGISTRY
from nautilusd.control.commands.pin import parse_cpus
from nautilusd.ctl import main as cli
from nautilusd.ctl.commands import CLI, CLIENT_REGISTRY
from nautilusd.ctl.commands.events import event_line
from nautilusd.ctl.since import parse_since

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


def test_status_when_engines_named_shows_only_those(runtime_dir: Path) -> None:
    """status ENGINE... keeps the named engines' rows (table and --json), in daemon order."""
    with ServedControl(runtime_dir):
        code, out, _ = run(runtime_dir, "status", "risk", "marketdata")
        json_code, json_out, _ = run(runtime_dir, "status", "risk", "--json")
    shown = [line.split()[0] for line in out.splitlines()[3:] if line.strip()]
    assert code == 0 and shown == ["marketdata", "risk"]
    assert json_code == 0 and [e["name"] for e in json.loads(json_out)["engines"]] == ["risk"]


def test_status_when_engine_unknown_exits_2_naming_it(runtime_dir: Path) -> None:
    """An unknown engine name is a usage error naming it (exit 2); with --json, JSON too."""
    with ServedControl(runtime_dir):
        code, out, err = run(runtime_dir, "status", "risk", "rsik")
        json_code, json_out, _ = run(runtime_dir, "status", "rsik", "--json")
    assert code == 2 and out == "" and "'rsik'" in err and "risk" in err
    assert json_code == 2 and json.loads(json_out)["exit_code"] == 2
    assert "'rsik'" in json.loads(json_out)["error"]


def test_status_when_json_and_no_daemon_prints_a_json_error(runtime_dir: Path) -> None:
    """status --json without a daemon: {"error", "exit_code": 3} on stdout, exit 3."""
    code, out, err = run(runtime_dir, "status", "--json")
    assert code == 3 and json.loads(out) == {"error": err.strip(), "exit_code": 3}


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
    assert parse_cpus("0-2,5") == [0, 1, 2, 5]
    with pytest.raises(ValueError, match="'x'"):
        parse_cpus("1,x")


def test_pin_when_cpus_malformed_exits_2_before_connecting(runtime_dir: Path) -> None:
    """A bad core list is a usage error even with no daemon: nothing is sent."""
    code, out, err = run(runtime_dir, "pin", "risk", "1,x")
    assert (code, out) == (2, "") and "'x' is not N or N-M" in err


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


class AdvancingRings(FakeSupervisor):
    """The ring's published cursor moves 100 records per status reading."""

    def __init__(self) -> None:
        super().__init__()
        self.readings = 0

    def status(self) -> dict[str, Any]:
        doc = super().status()
        self.readings += 1
        for ring in doc["rings"]:
            ring["cursor"] = ring["published_total"] = 100 * self.readings
        return doc


def test_rings_when_first_asked_shows_a_rate_from_two_readings(runtime_dir: Path) -> None:
    """The first `rings` of a daemon reads the cursor twice, so RATE/S is a number (records
    per second over the interval between the readings), not `-`."""
    with ServedControl(runtime_dir, AdvancingRings()):
        code, out, _ = run(runtime_dir, "rings")
        json_code, json_out, _ = run(runtime_dir, "rings", "--json")
    rate_cell = next(line for line in out.splitlines() if line.startswith("ticks")).split()[6]
    assert code == 0 and rate_cell != "-" and float(rate_cell.replace(",", "")) > 0
    ring = json.loads(json_out)["rings"][0]
    assert json_code == 0 and ring["rate_per_s"] > 0
    assert ring["rate_per_s"] == pytest.approx(100 / ring["rate_window_s"], rel=0.01)


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


def test_logs_when_sink_is_a_file_prints_only_that_engines_records(runtime_dir: Path) -> None:
    """A recorded file sink: the engine's JSON records, rendered one per line; -n limits."""
    log = runtime_dir / "nautilusd.log"
    rows = [{"timestamp": "t1", "level": "info", "event": "a", "engine": "ghost", "k": 1},
            {"timestamp": "t2", "level": "info", "event": "b", "engine": "other"},
            {"timestamp": "t3", "level": "warning", "event": "c", "engine": "ghost"}]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows) + "not json ghost\n")
    (runtime_dir / "log-sink.json").write_text(json.dumps({"kind": "file", "path": str(log)}))
    code, out, _ = run(runtime_dir, "logs", "ghost")
    assert code == 0 and out == "t1 info a k=1\nt3 warning c\n"
    code, out, _ = run(runtime_dir, "logs", "ghost", "-n", "1", "--json")
    assert code == 0 and json.loads(out)["event"] == "c"


def test_logs_when_since_given_prints_only_records_at_or_after_it(runtime_dir: Path) -> None:
    """--since keeps the engine's records from that time on; undated ones fall outside it."""
    log = runtime_dir / "nautilusd.log"
    rows = [{"timestamp": "2020-01-01T07:00:00Z", "level": "info", "event": "old",
             "engine": "ghost"},
            {"timestamp": "2020-01-01T08:00:00.5Z", "level": "info", "event": "new",
             "engine": "ghost"},
            {"timestamp": "t3", "level": "info", "event": "undated", "engine": "ghost"}]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (runtime_dir / "log-sink.json").write_text(json.dumps({"kind": "file", "path": str(log)}))
    code, out, _ = run(runtime_dir, "logs", "ghost", "--since", "2020-01-01T07:30:00")
    assert code == 0 and out == "2020-01-01T08:00:00.5Z info new\n"
    code, out, _ = run(runtime_dir, "logs", "ghost", "--since", "1d")
    assert code == 0 and out == ""  # both dated records are older than a day by now


def test_logs_when_since_is_not_a_time_is_a_usage_error_naming_it(
    runtime_dir: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A --since that is neither an age nor a time exits 2 and names the value."""
    with pytest.raises(SystemExit) as exited:
        run(runtime_dir, "logs", "ghost", "--since", "yesterdayish")
    assert exited.value.code == 2 and "'yesterdayish'" in capsys.readouterr().err


def test_since_when_age_or_time_given_returns_epoch_seconds() -> None:
    """Ages count back from now; a zoneless ISO time is UTC."""
    assert parse_since("90s", now_s=1000.0) == 910.0
    assert parse_since("2h", now_s=10_000.0) == 10_000.0 - 7200.0
    assert parse_since("1970-01-01T00:01:00") == 60.0
    assert parse_since("1970-01-01T01:01:00+01:00") == 60.0


def test_bench_when_suite_unknown_exits_2_naming_the_suites() -> None:
    """An unknown bench suite is a usage error naming it and the suites there are."""
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["bench", "no_such_suite"], out=out, err=err) == 2
    assert "'no_such_suite'" in err.getvalue() and "rings" in err.getvalue()
    assert "report" not in err.getvalue()  # a helper module without main() is no suite


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_parser_when_built_has_one_subcommand_per_registered_command() -> None:
    """The subcommands are the daemon commands with a CLI part plus the client-only ones,
    each registered once, in the registries' order."""
    daemon = [c.name for c in REGISTRY if c.cli is not None]
    client = [c.name for c in CLIENT_REGISTRY]
    assert list(_subcommands(cli.build_parser(CLI))) == [*daemon, *client] == list(CLI)
    assert not set(daemon) & set(client)
    assert {"ping", "info"} <= {c.name for c in REGISTRY} - set(CLI)


def test_help_when_printed_lists_every_command_with_its_help(
        capsys: pytest.CaptureFixture[str]) -> None:
    """`nautilusctl --help` exits 0 and shows each subcommand next to its help text."""
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert exited.value.code == 0
    for name, command in CLI.items():
        assert f"{name} {' '.join(command.help.split())}" in shown, name


@pytest.mark.parametrize(("prog", "entry"), [("nautilusctl", "nautilusd.ctl.main"),
                                            ("nautilusd", "nautilusd.main")])
def test_version_when_asked_prints_the_installed_package_version(prog: str, entry: str) -> None:
    """`nautilusctl --version` and `nautilusd --version` print the installed distribution's
    version (importlib.metadata), exit 0, and need no daemon."""
    result = subprocess.run([sys.executable, "-m", entry, "--version"], capture_output=True,
                            text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{prog} {metadata.version('nautilusd')}\n"


def _into_closed_pipe(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run nautilusctl with stdout a pipe whose reader is already gone (`| head -0`)."""
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    try:
        return subprocess.run([sys.executable, "-m", "nautilusd.ctl.main", *argv],
                              stdout=write_fd, stderr=subprocess.PIPE, text=True, timeout=20)
    finally:
        os.close(write_fd)


@pytest.mark.parametrize("argv", [["--help"], ["status"], ["status", "--json"],
                                  ["rings"], ["top", "--once"]])
def test_command_when_stdout_reader_gone_exits_quietly(runtime_dir: Path,
                                                       argv: list[str]) -> None:
    """A closed pipe on stdout ends any command with exit 0 and nothing on stderr (no
    BrokenPipeError traceback, no "Exception ignored" at interpreter exit)."""
    with ServedControl(runtime_dir):
        done = _into_closed_pipe(*argv, "--runtime-dir", str(runtime_dir))
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize(("payload", "shown"), [
    ({"order_id": [1099511631459], "side": ["buy"]}, "order_id=1099511631459 side=buy"),
    ({"px": [101.5], "cpus": [0, 1], "none": None}, "px=101.500 cpus=[0, 1] none=-"),
    ({"qty": 3, "empty": []}, "qty=3 empty=[]")])
def test_event_line_when_fields_are_one_item_lists_shows_scalars(payload: dict[str, object],
                                                                  shown: str) -> None:
    """A bus payload's one-item lists are shown as their item; longer lists stay lists."""
    assert event_line("exec.fill", payload) == f"exec.fill  {shown}"


def test_help_when_walked_every_subcommand_has_a_description_and_an_example() -> None:
    """Each subparser's --help carries a description and an `examples:` epilog whose lines
    run that very subcommand (`nautilusctl NAME ...`)."""
    parser = cli.build_parser(CLI)
    assert parser.description and parser.epilog
    for name, sub in _subcommands(parser).items():
        assert sub.description and len(sub.description) > len(name), name
        lines = (sub.epilog or "").splitlines()
        assert lines[:1] == ["examples:"] and len(lines) > 1, name
        assert all(f"nautilusctl {name}" in line for line in lines[1:]), name
        assert f"nautilusctl {name}" in sub.format_help(), name


BASH_PROBE = """
source "$1"
complete -p nautilusctl
complete_words() {  # complete_words WORD...: the candidates for the last word
    COMP_WORDS=(nautilusctl "$@"); COMP_CWORD=$#; COMPREPLY=(); _nautilusctl
    echo "${COMPREPLY[*]}"
}
complete_words st
complete_words --runtime-dir /tmp/x pi
"""


def _completion(shell: str, tmp_path: Path) -> Path:
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["completion", shell], out=out, err=err) == 0, err.getvalue()
    path = tmp_path / f"nautilusctl.{shell}"
    path.write_text(out.getvalue())
    return path


def _bash(script: str, *args: str) -> list[str]:
    done = subprocess.run(["bash", "-c", script, "bash", *args], capture_output=True,
                          text=True, timeout=20)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout.splitlines()


def test_completion_when_bash_sourced_registers_and_completes_subcommands(
        tmp_path: Path) -> None:
    """`source <(nautilusctl completion bash)` registers `complete -F _nautilusctl`; `st`
    completes to the st... subcommands, also after an option with a value."""
    registered, st, pi = _bash(BASH_PROBE, str(_completion("bash", tmp_path)))
    assert registered == "complete -o default -F _nautilusctl nautilusctl"
    assert set(st.split()) == {n for n in CLI if n.startswith("st")} != set()
    assert pi.split() == ["pin"]


def test_completion_when_bash_walks_the_parser_offers_every_option_and_choice(
        tmp_path: Path) -> None:
    """For each subcommand, `nautilusctl NAME -` offers every option of its parser, and an
    empty word offers its positional choices (journal: show, export)."""
    path = str(_completion("bash", tmp_path))
    subs = _subcommands(cli.build_parser(CLI))
    probe = "source \"$1\"; shift\nfor name in \"$@\"; do\n" \
            "COMP_WORDS=(nautilusctl \"$name\" \"\"); COMP_CWORD=2; _nautilusctl\n" \
            "echo \"${COMPREPLY[*]}\"\ndone"
    offered = dict(zip(subs, _bash(probe, path, *subs), strict=True))
    for name, sub in subs.items():
        expected = {o for a in sub._actions for o in a.option_strings}
        expected |= {str(c) for a in sub._actions if not a.option_strings and a.choices
                     for c in a.choices}
        assert set(offered[name].split()) == expected, name
    assert {"show", "export"} <= set(offered["journal"].split())
    assert {"bash", "zsh"} <= set(offered["completion"].split())


def test_completion_when_zsh_lists_every_subcommand_and_registers(tmp_path: Path) -> None:
    """The zsh script is a #compdef file naming every subcommand with its help, and is valid
    zsh where zsh is installed."""
    path = _completion("zsh", tmp_path)
    script = path.read_text()
    assert script.startswith("#compdef nautilusctl\n") and "compdef _nautilusctl" in script
    for name in CLI:
        assert f"        '{name}:" in script and f"        {name}) compadd -- " in script
    if shutil.which("zsh"):
        done = subprocess.run(["zsh", "-n", str(path)], capture_output=True, text=True,
                              timeout=20)
        assert done.returncode == 0, done.stderr


def test_completion_when_shell_unknown_is_a_usage_error() -> None:
    """An unsupported shell is refused by the parser (exit 2) naming the choices."""
    with pytest.raises(SystemExit) as exited:
        cli.main(["completion", "fish"], out=io.StringIO(), err=io.StringIO())
    assert exited.value.code == 2


CLIENT_PROBE = """
import contextlib, io, json, sys
from nautilusd.ctl import main as cli
from nautilusd.ctl.commands import CLI
cli.build_parser(CLI)
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    cli.main(["--help"])
err = io.StringIO()
code = cli.main(["call", "risk", "risk.status", "--runtime-dir", sys.argv[1]],
                out=io.StringIO(), err=err)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("engines", "shm")
                or m.startswith(("nautilusd.bench", "nautilusd.chaos")))
print(json.dumps({"code": code, "loaded": loaded, "err": err.getvalue()}))
"""


def test_client_when_help_and_call_ran_loaded_no_engine_ring_bench_or_chaos_code(
        runtime_dir: Path) -> None:
    """In a fresh interpreter, the parser, --help and a `call` with no socket there load
    no module of engines, shm, nautilusd.bench or nautilusd.chaos."""
    result = subprocess.run([sys.executable, "-c", CLIENT_PROBE, str(runtime_dir)],
                            capture_output=True, text=True, check=True, timeout=30)
    probe = json.loads(result.stdout)
    assert probe["loaded"] == []
    assert probe["code"] == 3 and probe["err"].startswith("nautilusd is not running")


def test_import_when_cli_loaded_pulls_no_engine_or_ring_code() -> None:
    """nautilusctl imports neither engines nor shm (nor numpy) at module level."""
    code = ("import sys, nautilusd.ctl.main; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('engines', 'shm', 'numpy')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=20)
    assert result.stdout.strip() == "[]"
