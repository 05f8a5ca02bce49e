"""`reload` applies ring changes on a live daemon: a ring added (with a new reader) or
resized restarts exactly the engines that write or read it; every other pid stays."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _ctl_daemon import DEFAULT_ENGINES, Daemon, engine_toml

pytestmark = pytest.mark.timeout(120)

R2 = ('[rings.r2]\nrecord = "tick"\ncapacity = 1024\npolicy = "overwrite"\n'
      'writer = "gamma"\nreaders = ["delta"]\n\n')


@pytest.fixture
def daemon(tmp_path: Path, runtime_dir: Path, shm_dir: Path) -> Iterator[Daemon]:
    with Daemon(tmp_path, runtime_dir, shm_dir) as d:
        yield d
    assert d.proc.returncode == 0  # it shut down cleanly when asked


def _ring(daemon: Daemon, name: str) -> dict[str, object]:
    return {r["name"]: r for r in daemon.status()["rings"]}.get(name, {})


def test_reload_when_ring_added_with_reader_restarts_only_its_writer(daemon: Daemon) -> None:
    """A new ring r2 written by gamma and read by a new engine delta: gamma restarts, delta
    starts, alpha and beta (the r1 pair) keep their pids; r2 exists before they run."""
    before = daemon.pids()
    text = daemon.config.read_text()
    daemon.config.write_text(text.replace(DEFAULT_ENGINES, "") + R2 + DEFAULT_ENGINES
                             + engine_toml("delta", (1,)))
    diff = daemon.request("reload")
    assert diff["rings_added"] == ["r2"] and diff["added"] == ["delta"]
    assert diff["changed"] == ["gamma"]
    daemon.wait_for(lambda: daemon.all_ready() and daemon.pids()["gamma"] != before["gamma"]
                    and "delta" in daemon.pids())
    after = daemon.pids()
    assert after["alpha"] == before["alpha"] and after["beta"] == before["beta"]
    assert _ring(daemon, "r2")["capacity"] == 1024


def test_reload_when_ring_resized_replaces_it_and_restarts_its_ends(daemon: Daemon) -> None:
    """r1 from 1024 to 2048 records: alpha and beta restart on the new segment, gamma's pid
    stays; a reexec afterwards is possible (nothing left pending)."""
    before = daemon.pids()
    daemon.config.write_text(daemon.config.read_text().replace("capacity = 1024",
                                                               "capacity = 2048"))
    diff = daemon.request("reload")
    assert diff["rings_changed"] == ["r1"] and sorted(diff["changed"]) == ["alpha", "beta"]
    daemon.wait_for(lambda: daemon.all_ready() and _ring(daemon, "r1").get("capacity") == 2048
                    and daemon.pids()["alpha"] != before["alpha"]
                    and daemon.pids()["beta"] != before["beta"])
    assert daemon.pids()["gamma"] == before["gamma"]
    assert daemon.ctl("reexec").returncode == 0
