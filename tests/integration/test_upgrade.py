"""`nautilusctl upgrade` on a live daemon: the engine code now on disk replaces what the
forkserver imported, one engine at a time; code that fails to import is rolled back."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from _ctl_daemon import DEFAULT_ENGINES, Daemon

pytestmark = pytest.mark.timeout(120)

MODULE = '''
import os
from pathlib import Path

from engines.reference import ReferenceEngine

BEHAVIOUR = {behaviour}


class UpEngine(ReferenceEngine):
    def on_start(self) -> None:
        super().on_start()
        Path(os.environ["UPG_OUT"], str(os.getpid())).write_text(str(BEHAVIOUR))
'''
UP = ('[engines.up]\nentry = "upgeng:UpEngine"\ncpus = [0]\nmax_restarts = 3\n'
      'backoff_initial_ms = 10\nstop_timeout_ms = 2000\nstartup_timeout_ms = 10000\n')


def _write_module(root: Path, text: str) -> None:
    (root / "upgeng").mkdir(exist_ok=True)
    (root / "upgeng" / "__init__.py").write_text(text)


@pytest.fixture
def daemon(tmp_path: Path, runtime_dir: Path, shm_dir: Path) -> Iterator[Daemon]:
    code, out = tmp_path / "code", tmp_path / "out"
    code.mkdir()
    out.mkdir()
    _write_module(code, MODULE.format(behaviour=1))
    env = {**os.environ, "PYTHONPATH": f"{code}:{os.environ.get('PYTHONPATH', '')}",
           "UPG_OUT": str(out), "PYTHONDONTWRITEBYTECODE": "1"}
    with Daemon(tmp_path, runtime_dir, shm_dir, engines=DEFAULT_ENGINES + UP, env=env) as d:
        d.code, d.out = code, out  # type: ignore[attr-defined]
        yield d


def _behaviour(daemon: Daemon, pid: int) -> str:
    return (daemon.out / str(pid)).read_text()  # type: ignore[attr-defined]


def test_upgrade_all_when_code_changed_runs_new_code_in_dependency_order(
        daemon: Daemon) -> None:
    """After the module changes on disk, `upgrade all` restarts every engine once, in order:
    the edited engine's version changes and its new process runs the new code; the others
    are restarted on the new generation; exit 0."""
    before = daemon.engines()
    assert _behaviour(daemon, before["up"]["pid"]) == "1"
    dry = daemon.ctl("upgrade", "--dry-run", "--json")
    assert dry.returncode == 0 and json.loads(dry.stdout)["targets"] == list(before)
    assert daemon.pids() == {n: e["pid"] for n, e in before.items()}
    _write_module(daemon.code, MODULE.format(behaviour=2))  # type: ignore[attr-defined]
    done = daemon.ctl("upgrade", "all", "--json", timeout_s=90)
    assert done.returncode == 0, done.stdout + done.stderr
    run = json.loads(done.stdout)["upgrade"]
    assert run["state"] == "done" and [u["name"] for u in run["upgraded"]] == list(before)
    after = daemon.engines()
    assert all(after[n]["pid"] != before[n]["pid"] for n in before)
    assert after["up"]["version"] != before["up"]["version"]
    assert after["alpha"]["version"] == before["alpha"]["version"]  # its code is unchanged
    assert _behaviour(daemon, after["up"]["pid"]) == "2"
    assert daemon.status()["daemon"]["forkserver_generation"] == 1


def test_upgrade_when_new_code_raises_at_import_rolls_back_and_fails(daemon: Daemon) -> None:
    """Code that raises at import: `upgrade up` fails naming the engine and the reason
    (exit 1), publishes upgrade_failed, and `up` runs the old code again, READY; the other
    engines are untouched."""
    before = daemon.engines()
    _write_module(daemon.code, "raise RuntimeError('broken build')\n")  # type: ignore[attr-defined]
    done = daemon.ctl("upgrade", "up", timeout_s=90)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "upgrade of up failed" in done.stderr and "rolled back" in done.stderr
    daemon.wait_for(daemon.all_ready)
    after = daemon.engines()
    assert after["up"]["pid"] != before["up"]["pid"]
    assert after["up"]["version"] == before["up"]["version"]
    assert _behaviour(daemon, after["up"]["pid"]) == "1"
    assert all(after[n]["pid"] == before[n]["pid"] for n in before if n != "up")
    assert "upgrade_failed" in daemon.read_log()


def test_upgrade_after_reexec_keeps_the_adopted_engines_supervised(daemon: Daemon) -> None:
    """After a re-execution the adopted engines belong to the adopted forkserver: an upgrade
    keeps it until each has restarted on the new generation, and ends done, all READY."""
    assert daemon.ctl("reexec").returncode == 0
    daemon.wait_for(lambda: daemon.resumed(1))
    before = daemon.pids()
    done = daemon.ctl("upgrade", "all", "--json", timeout_s=90)
    assert done.returncode == 0, done.stdout + done.stderr
    daemon.wait_for(daemon.all_ready)
    after = daemon.pids()
    assert all(after[n] != before[n] for n in before)


def _upgrade_phase(daemon: Daemon) -> tuple[str, str]:
    run = daemon.status()["daemon"]["upgrade"] or {}
    return run.get("state", ""), run.get("phase", "")


def test_upgrade_when_new_generation_imports_slowly_keeps_answering_control(
        daemon: Daemon) -> None:
    """The new forkserver's import takes seconds (a module that sleeps at import): the
    `upgrade` request is answered at once, and status is answered while the generation is
    still starting (phase starting_generation, every engine on its old pid); then the
    upgrade goes on and ends done on the new code."""
    before = daemon.pids()
    slow = "import time\ntime.sleep(4)\n" + MODULE.format(behaviour=3)
    _write_module(daemon.code, slow)  # type: ignore[attr-defined]
    plan = daemon.request("upgrade", target="all")
    assert plan["generation"] == 1 and plan["old_generation"] == 0
    assert _upgrade_phase(daemon) == ("running", "starting_generation")
    assert daemon.pids() == before  # nothing restarted before the hello
    assert daemon.status()["daemon"]["forkserver_generation"] == 0
    daemon.wait_for(lambda: _upgrade_phase(daemon)[0] != "running", timeout_s=90)
    assert _upgrade_phase(daemon) == ("done", "")
    after = daemon.engines()
    assert _behaviour(daemon, after["up"]["pid"]) == "3"
    assert daemon.status()["daemon"]["forkserver_generation"] == 1


def test_upgrade_when_new_generation_dies_before_hello_fails_and_restarts_nothing(
        daemon: Daemon) -> None:
    """A forkserver that exits while importing (os._exit in an engine module): the upgrade
    fails naming the new generation, no engine restarted, generation 0 still serves (a
    killed engine comes back on it); nautilusctl upgrade exits 1."""
    before = daemon.pids()
    _write_module(daemon.code, "import os\nos._exit(3)\n")  # type: ignore[attr-defined]
    done = daemon.ctl("upgrade", "all", timeout_s=90)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the new forkserver generation did not start" in done.stderr
    assert "no engine was restarted" in done.stderr
    assert daemon.pids() == before
    assert daemon.status()["daemon"]["forkserver_generation"] == 0
    os.kill(before["beta"], 9)
    daemon.wait_for(lambda: daemon.all_ready() and daemon.pids()["beta"] != before["beta"])
