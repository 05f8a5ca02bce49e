"""`nautilusctl bench idle`: CPU used by nautilusd itself while supervising 8 idle engines.

Starts `nautilusd run` with 8 reference engines (blocking wait, default liveness), waits
until all are ready, then reads the daemon's CPU time over a window (target: < 1% of a core).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from nautilusd import paths
from nautilusd.bench.report import emit
from nautilusd.paths import scratch_id
from nautilusd.states import State
from shm.errors import ShmError
from shm.status import StatusTable

INSTANCE = "benchidle"


def _config(directory: Path, shm_dir: Path, engines: int) -> Path:
    text = (f'[supervisor]\ninstance = "{INSTANCE}"\nmetrics_address = ""\n'
            f'shm_dir = "{shm_dir}"\nlog_level = "warning"\n')
    for i in range(engines):
        text += f'\n[engines.idle{i}]\nentry = "engines.reference:ReferenceEngine"\n'
    path = directory / "idle.toml"
    path.write_text(text)
    return path


def _ready_count(shm_dir: Path) -> int:
    try:
        with StatusTable.attach(paths.status_segment(INSTANCE), directory=shm_dir) as table:
            rows = table.snapshot()
    except ShmError:
        return 0
    return int(sum(1 for r in rows if r["name"] and r["state"] == State.READY.code))


def _cpu_s(proc: psutil.Process) -> float:
    """CPU seconds of every thread, in ns resolution (schedstat); ticks are too coarse."""
    total_ns = 0
    for task in Path(f"/proc/{proc.pid}/task").iterdir():
        try:
            total_ns += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total_ns / 1e9


def measure(engines: int, window_s: float, workdir: Path) -> dict[str, float]:
    shm_dir = Path("/dev/shm") / f"nautilusd-bench-{scratch_id(8)}"
    shm_dir.mkdir(mode=0o700)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "nautilusd.main", "run", "--config",
         str(_config(workdir, shm_dir, engines)), "--runtime-dir", str(workdir / "rt")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while _ready_count(shm_dir) < engines:
            if time.monotonic() > deadline or daemon.poll() is not None:
                raise RuntimeError("engines did not all become ready")
            time.sleep(0.05)
        time.sleep(1.0)  # let start-up work settle
        proc = psutil.Process(daemon.pid)
        kids = proc.children(recursive=True)
        before, kids_before, t0 = _cpu_s(proc), [_cpu_s(k) for k in kids], time.monotonic()
        time.sleep(window_s)
        elapsed = time.monotonic() - t0
        daemon_cpu = _cpu_s(proc) - before
        kids_cpu = sum(_cpu_s(k) - b for k, b in zip(kids, kids_before, strict=True))
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        shutil.rmtree(shm_dir, ignore_errors=True)
    return {"daemon_cpu_percent": round(100 * daemon_cpu / elapsed, 3),
            "engines_and_forkserver_cpu_percent": round(100 * kids_cpu / elapsed, 3),
            "window_s": round(elapsed, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nautilusctl bench idle", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a 5 s window instead of 30 s")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--engines", type=int, default=8)
    args = parser.parse_args(argv)
    window_s = 5.0 if args.quick else 30.0
    with tempfile.TemporaryDirectory(prefix="nd-bench-", dir="/tmp") as tmp:
        result = measure(args.engines, window_s, Path(tmp))
    rows = [{"engines": args.engines, **result}]
    summary = {"nautilusd_idle_cpu_percent": result["daemon_cpu_percent"],
               "engines": args.engines, "window_s": result["window_s"]}
    return emit("idle", rows, summary, args.json)


if __name__ == "__main__":
    sys.exit(main())
