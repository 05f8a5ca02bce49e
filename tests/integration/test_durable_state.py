"""What comes back is what died: the kill switch and positions survive a daemon restart
(SIGTERM, start) and a simulated reboot (SIGKILL of everything, segments and runtime dir
removed), with configs/default.toml under a real `nautilusd run`."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
from daemon_helpers import default_config, run_nautilusd, stop_or_kill

from engines.errors import ServiceTimeout
from engines.journal import KIND_FILL, read_all
from engines.positions._book import PositionBook
from engines.service import ServiceClient, service_endpoint
from engines.statedir import StateDir
from shm.layout import FILL

ROOT = Path(__file__).resolve().parents[2]
SYMBOLS = tuple(tomllib.loads((ROOT / "configs" / "default.toml").read_text())["symbols"])


def _config(tmp_path: Path, shm_dir: Path, runtime_dir: Path) -> Path:
    from nautilusd.config.tomlwriter import toml_document

    doc = default_config("dur", shm_dir, runtime_dir=str(runtime_dir),
                         state_dir=str(tmp_path / "state"))
    path = tmp_path / "durable.toml"
    path.write_text(toml_document(doc))
    return path


def _call(runtime_dir: Path, engine: str, method: str, proc: subprocess.Popen[bytes],
          timeout_s: float = 30.0, **args: Any) -> Any:
    """The engine's answer, retried until it is up (a deadline, not a sleep)."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert proc.poll() is None, f"nautilusd exited with {proc.returncode}"
        try:
            with ServiceClient(service_endpoint(runtime_dir, engine), timeout_ms=500) as c:
                return c.call(method, **args)
        except ServiceTimeout:
            assert time.monotonic() < deadline, f"{engine} never answered {method}"


def _wait(cond: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _power_cut(proc: subprocess.Popen[bytes], shm_dir: Path, runtime_dir: Path) -> None:
    """SIGKILL nautilusd and every engine at once, then remove what a reboot removes."""
    family = [proc.pid] + [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
    for pid in family:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(10)
    psutil.wait_procs([psutil.Process(p) for p in family if psutil.pid_exists(p)], timeout=10)
    for seg in shm_dir.iterdir():
        seg.unlink()
    shutil.rmtree(runtime_dir)
    runtime_dir.mkdir(mode=0o700)


def _book(runtime_dir: Path, proc: subprocess.Popen[bytes]) -> list[tuple[Any, ...]]:
    snap = _call(runtime_dir, "positions", "positions.get", proc)
    return sorted((r["strategy_id"], r["symbol"], r["qty"], r["fills"])
                  for r in snap["positions"])


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_kill_switch_and_positions_when_restarted_then_power_cut_come_back(
    tmp_path: Path, shm_dir: Path, runtime_dir: Path
) -> None:
    """Engage, SIGTERM + start, then a power cut + start: risk still says killed and the
    positions are the ones booked before the first stop."""
    config, log = _config(tmp_path, shm_dir, runtime_dir), tmp_path / "nautilusd.log"
    proc = run_nautilusd(config, log)
    try:
        _wait(lambda: _book(runtime_dir, proc), 60, "no fill was booked")
        assert _call(runtime_dir, "risk", "risk.kill_switch", proc, engage=True,
                     why="test")["killed"] is True
        seen: list[Any] = [None]

        def settled() -> bool:  # the orders in flight when the switch went on are done
            now = _book(runtime_dir, proc)
            same, seen[0] = now == seen[0], now
            return same

        _wait(settled, 30, "positions kept moving after the kill switch")
        before = seen[0]
        stop_or_kill(proc)
        assert proc.returncode == 0, log.read_text()[-2000:]
        proc = run_nautilusd(config, log)
        status = _call(runtime_dir, "risk", "risk.status", proc)
        assert status["killed"] is True
        assert _book(runtime_dir, proc) == before
        _power_cut(proc, shm_dir, runtime_dir)
        proc = run_nautilusd(config, log)
        status = _call(runtime_dir, "risk", "risk.status", proc)
        assert status["killed"] is True and status["kill_reason"] == "engaged"
        assert _book(runtime_dir, proc) == before
    finally:
        stop_or_kill(proc)
    assert proc.returncode == 0, log.read_text()[-2000:]
    assert _journal_book(tmp_path / "state") == before  # positions = a replay of the journal


def _journal_book(state: Path) -> list[tuple[Any, ...]]:
    """The positions a replay of the journal's fills gives."""
    fills = [np.frombuffer(bytes(p), FILL)[0] for _s, kind, p in read_all(StateDir(state))
             if kind == KIND_FILL]
    book = PositionBook(SYMBOLS)
    for f in fills:
        book.on_fill(int(f["strategy_id"]), int(f["symbol_id"]), int(f["side"]), int(f["qty"]),
                     float(f["price"]))
    return sorted((r["strategy_id"], r["symbol"], r["qty"], r["fills"])
                  for r in book.snapshot()["positions"])


def _ctl(runtime_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "nautilusctl"), *argv, "--runtime-dir",
                           str(runtime_dir)], capture_output=True, text=True, timeout=60,
                          check=False, cwd=ROOT)


def _three_views(runtime_dir: Path, state: Path, proc: subprocess.Popen[bytes]
                 ) -> tuple[list[int], list[int], list[int], int]:
    """Per symbol: risk's filled position, the strategy's (its position file), positions'
    book; and what risk still holds reserved."""
    risk = _call(runtime_dir, "risk", "risk.status", proc)
    strategy = np.fromfile(state / "strategy.position", dtype="<i8", count=len(SYMBOLS),
                           offset=64).tolist()
    book = {r["symbol"]: r["qty"] for r in
            _call(runtime_dir, "positions", "positions.get", proc)["positions"]
            if r["strategy_id"] == 1}
    booked = [int(book.get(s, 0)) for s in SYMBOLS]
    return risk["position"], strategy, booked, sum(risk["open_buy"]) + sum(risk["open_sell"])


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_strategy_and_risk_when_strategy_restarted_then_kill_switch_agree_on_positions(
    tmp_path: Path, shm_dir: Path, runtime_dir: Path
) -> None:
    """`restart strategy` then the kill switch: the strategy's own position (from its fills),
    risk's filled position and the positions book are the same, nothing stays reserved."""
    config, log = _config(tmp_path, shm_dir, runtime_dir), tmp_path / "nautilusd.log"
    proc = run_nautilusd(config, log)
    try:
        _wait(lambda: _book(runtime_dir, proc), 60, "no fill was booked")
        restarted = _ctl(runtime_dir, "restart", "strategy")
        assert restarted.returncode == 0, restarted.stderr
        first = _book(runtime_dir, proc)
        _wait(lambda: _book(runtime_dir, proc) != first, 60, "no fill after the restart")
        assert _call(runtime_dir, "risk", "risk.kill_switch", proc, engage=True,
                     why="test")["killed"] is True
        found: list[Any] = [None]

        def agree() -> bool:
            found[0] = views = _three_views(runtime_dir, tmp_path / "state", proc)
            return views[0] == views[1] == views[2] and views[3] == 0

        _wait(agree, 30, f"strategy, risk and positions disagree: {found[0]}")
        assert any(found[0][0]), "nothing was filled"
    finally:
        stop_or_kill(proc)
    assert proc.returncode == 0, log.read_text()[-2000:]
