"""Tests of `nautilusd check`: in-process for the explanation, and as a real subprocess.

The subprocess tests run the installed console script, as an operator would.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest

from nautilusd.config.check import EXIT_INVALID, EXIT_OK, main

CONFIGS = Path(__file__).parent.parent / "data" / "configs"
NAUTILUSD = Path(sys.executable).parent / "nautilusd"
ENTRY = 'entry = "engines.reference:ReferenceEngine"\n'
BAD = (f'bogus = 1\n[engines.risk]\n{ENTRY}restart = "alwayz"\ncpus = [0, 4096]\n'
       f'after = ["oms"]\n[engines.oms]\n{ENTRY}after = ["risk"]\n'
       '[rings.orders]\nrecord = "order"\ncapacity = 64\npolicy = "block"\nwriter = "ghost"\n')


def _run_main(config: Path, as_json: bool = False) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(Namespace(config=str(config), json=as_json), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.timeout(10)
def test_main_when_valid_explains_engines_in_start_order_and_rings() -> None:
    """A valid config exits 0 and lists engines in start order with their settings."""
    code, out, err = _run_main(CONFIGS / "pipeline.toml")
    assert code == EXIT_OK and err == ""
    assert out.index("1. producer") < out.index("2. consumer") < out.index("3. sidecar")
    assert "instance     pipeline" in out and "restart on-failure" in out
    assert "/bin/sleep 3600" in out and "wait yielding" in out
    assert "data  raw64 (64 B) x 1024  block  producer -> consumer" in out


@pytest.mark.timeout(10)
def test_main_when_json_prints_a_document_with_engines_and_rings() -> None:
    """--json prints one JSON document with the same facts."""
    code, out, _ = _run_main(CONFIGS / "pipeline.toml", as_json=True)
    doc = json.loads(out)
    assert code == EXIT_OK and doc["valid"] is True and doc["instance"] == "pipeline"
    assert [e["name"] for e in doc["engines"]] == ["producer", "consumer", "sidecar"]
    assert doc["engines"][1]["after"] == ["producer"] and doc["engines"][0]["cpus"] == [1]
    assert doc["rings"][0] == {"name": "data", "record": "raw64", "record_size": 64,
                               "capacity": 1024, "policy": "block", "writer": "producer",
                               "readers": ["consumer"], "latest_slots": 0}


@pytest.mark.timeout(10)
def test_main_when_invalid_prints_every_error_and_returns_2(tmp_path: Path) -> None:
    """An invalid config returns 2 and writes each error on its own stderr line."""
    path = tmp_path / "bad.toml"
    path.write_text(BAD)
    code, out, err = _run_main(path)
    lines = err.splitlines()
    assert code == EXIT_INVALID and out == ""
    assert all(line.startswith(f"{path}: ") for line in lines)
    assert any("engines.risk.restart: not a valid restart policy: 'alwayz'" in x for x in lines)
    assert any("engines.risk.cpus[1]: cpu 4096 does not exist" in x for x in lines)
    assert any("dependency cycle: risk -> oms -> risk" in x for x in lines)
    assert any("rings.orders.writer: writer is not an engine: 'ghost'" in x for x in lines)
    assert any("bogus: unknown key: 'bogus'" in x for x in lines)


@pytest.mark.timeout(10)
def test_main_when_invalid_and_json_lists_errors_in_the_document(tmp_path: Path) -> None:
    """--json on an invalid config still exits 2 and lists the errors by key path."""
    path = tmp_path / "bad.toml"
    path.write_text(BAD)
    code, out, err = _run_main(path, as_json=True)
    doc = json.loads(out)
    assert code == EXIT_INVALID and doc["valid"] is False
    assert "engines.risk.restart" in {e["path"] for e in doc["errors"]}
    assert len(doc["errors"]) == len(err.splitlines())


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(NAUTILUSD), "check", *args], capture_output=True, text=True,
                          timeout=20, check=False)


@pytest.mark.timeout(30)
def test_cli_when_config_invalid_exits_2_one_line_per_error_no_traceback(tmp_path: Path) -> None:
    """The real `nautilusd check` exits 2 with clean error lines and no traceback."""
    path = tmp_path / "bad.toml"
    path.write_text(BAD)
    result = _cli(str(path))
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) >= 5 and all(line.startswith(f"{path}: ") for line in lines)


@pytest.mark.timeout(30)
def test_cli_when_toml_syntax_bad_or_file_missing_exits_2_cleanly(tmp_path: Path) -> None:
    """Syntax errors and missing files are one clean line each, exit 2."""
    path = tmp_path / "syntax.toml"
    path.write_text("[engines.a]\ncpus = [0,\n")
    for target in (path, tmp_path / "missing.toml"):
        result = _cli(str(target))
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"{target}: ")


@pytest.mark.timeout(30)
def test_cli_when_config_valid_exits_0_and_explains() -> None:
    """The real `nautilusd check --json` on a valid config exits 0 with a JSON document."""
    result = _cli("--json", str(CONFIGS / "minimal.toml"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["engines"][0]["name"] == "ref"


@pytest.mark.timeout(10)
def test_main_when_default_topology_shows_ticks_board_one_slot_per_symbol() -> None:
    code, out, _ = _run_main(Path(__file__).parents[2] / "configs" / "default.toml")
    assert code == EXIT_OK
    ticks = next(line for line in out.splitlines() if line.strip().startswith("ticks "))
    assert ticks.endswith("latest-value board x 4")
    assert "board" not in next(line for line in out.splitlines()
                               if line.strip().startswith("orders "))
    assert "wait blocking (spin 2000 us hot)  after marketdata" in out  # strategy
    assert "wait blocking (spin 2000 us)  nice -10  after strategy" in out  # risk


@pytest.mark.timeout(10)
def test_main_when_research_topology_shows_the_features_and_signals_rings() -> None:
    """configs/research.toml is valid: its features and signals rings carry their records
    from the features and models engines to the research strategy, each with a board."""
    code, out, err = _run_main(Path(__file__).parents[2] / "configs" / "research.toml")
    assert code == EXIT_OK, err
    assert "features  feature (144 B) x 4096  overwrite  features -> strategy  " \
        "latest-value board x 4" in out
    assert "signals  signal (48 B) x 4096  overwrite  models -> strategy  " \
        "latest-value board x 4" in out
    assert "engines.strategy:ResearchStrategyEngine" in out


@pytest.mark.timeout(10)
@pytest.mark.skipif(os.geteuid() == 65534, reason="runs as nobody itself")
def test_main_when_python_engine_has_another_user_refuses_naming_engine_and_user(
        tmp_path: Path) -> None:
    """`user = "nobody"` on a Python engine is refused naming the engine, the user and its
    uid; on an exec'd engine it is accepted; an unknown user is refused on either."""
    config = tmp_path / "users.toml"
    config.write_text(f'[engines.risk]\n{ENTRY}user = "nobody"\n'
                      '[engines.tool]\ncommand = ["/bin/sleep", "1"]\nuser = "nobody"\n'
                      '[engines.other]\ncommand = ["/bin/true"]\nuser = "no-such-user-x"\n')
    code, _, err = _run_main(config)
    lines = err.splitlines()
    assert code == EXIT_INVALID and len(lines) == 2, err
    assert "engines.risk.user" in lines[0] and "'nobody' (uid 65534)" in lines[0]
    assert "Python engine 'risk'" in lines[0] and "0600" in lines[0]
    assert "engines.other.user" in lines[1] and "unknown user: 'no-such-user-x'" in lines[1]
