"""`nautilusctl bench status`: round trip of the status request against a real daemon.

Starts `nautilusd run` with 16 reference engines in a private runtime and shm dir, times
many status (and ping) requests over the control socket, then whole `nautilusctl status`
processes, and shuts the daemon down. Target: status p50 < 20 ms.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from nautilusd.bench.report import emit, percentiles
from nautilusd.ctl.client import ControlClient
from nautilusd.paths import scratch_id

ENGINES = 16
TARGET_P50_MS = 20.0
BIN = Path(sys.executable).parent


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nautilusctl bench status", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--engines", type=int, default=ENGINES)
    return parser


def _config(instance: str, shm_dir: Path, engines: int) -> str:
    lines = [f'[supervisor]\ninstance = "{instance}"\nmetrics_address = ""\n'
             f'shm_dir = "{shm_dir}"\nlog_format = "json"\nlog_level = "warning"\n']
    for i in range(engines):
        lines.append(f'[engines.e{i:02d}]\nentry = "engines.reference:ReferenceEngine"\n')
    return "\n".join(lines)


def _wait_ready(client: ControlClient, proc: subprocess.Popen[bytes], engines: int,
                timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nautilusd exited with {proc.returncode} before ready")
        try:
            doc = client.request("status")
            if sum(e["state"] == "READY" for e in doc["engines"]) == engines:
                return
        except Exception:
            client.close()  # not up yet: reconnect on the next try
        time.sleep(0.1)  # polling readiness with a deadline
    raise RuntimeError(f"{engines} engines not ready within {timeout_s} s")


def _time_requests(client: ControlClient, cmd: str, n: int) -> list[float]:
    samples: list[float] = []
    for _ in range(n):
        started = time.perf_counter_ns()
        client.request(cmd)
        samples.append(time.perf_counter_ns() - started)
    return samples


def _time_cli(runtime_dir: Path, n: int) -> list[float]:
    samples: list[float] = []
    for _ in range(n):
        started = time.perf_counter_ns()
        subprocess.run([str(BIN / "nautilusctl"), "status", "--json", "--runtime-dir",
                        str(runtime_dir)], capture_output=True, check=True, timeout=30)
        samples.append(time.perf_counter_ns() - started)
    return samples


def _measure(runtime_dir: Path, proc: subprocess.Popen[bytes], engines: int,
             quick: bool) -> dict[str, list[float]]:
    n, n_cli = (300, 10) if quick else (3000, 30)
    endpoint = f"ipc://{runtime_dir}/control.sock"
    with ControlClient(endpoint, timeout_ms=10_000) as client:
        _wait_ready(client, proc, engines)
        _time_requests(client, "status", 20)  # warm-up
        samples = {"status": _time_requests(client, "status", n),
                   "ping": _time_requests(client, "ping", n)}
    samples["nautilusctl status (process)"] = _time_cli(runtime_dir, n_cli)
    return samples


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    instance = f"bench-{scratch_id(8)}"
    work = Path(tempfile.mkdtemp(prefix="nd-bench-", dir="/tmp"))
    shm_dir = Path("/dev/shm") / f"nautilusd-bench-{scratch_id(8)}"
    shm_dir.mkdir(mode=0o700)
    runtime_dir = work / "run"
    config = work / "bench.toml"
    config.write_text(_config(instance, shm_dir, args.engines))
    log = (work / "daemon.log").open("wb")
    proc = subprocess.Popen([str(BIN / "nautilusd"), "run", "--config", str(config),
                             "--runtime-dir", str(runtime_dir)], stdout=log, stderr=log)
    try:
        samples = _measure(runtime_dir, proc, args.engines, args.quick)
    finally:
        _stop(proc, runtime_dir)
        log.close()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(shm_dir, ignore_errors=True)
    return _report(samples, args)


def _stop(proc: subprocess.Popen[bytes], runtime_dir: Path) -> None:
    if proc.poll() is None:
        try:
            with ControlClient(f"ipc://{runtime_dir}/control.sock", timeout_ms=5000) as c:
                c.request("shutdown")
            proc.wait(60)
        except Exception:
            proc.kill()
            proc.wait(10)


def _report(samples: dict[str, list[float]], args: argparse.Namespace) -> int:
    results: list[dict[str, Any]] = [
        {"request": name, "engines": args.engines, **percentiles(values, 1e-6)}
        for name, values in samples.items()]
    status = percentiles(samples["status"], 1e-6)
    summary = {"engines": args.engines, "status_p50_ms": status["p50"],
               "status_p99_ms": status["p99"],
               "ping_p50_ms": percentiles(samples["ping"], 1e-6)["p50"],
               "cli_process_p50_ms": percentiles(samples["nautilusctl status (process)"],
                                                 1e-6)["p50"],
               "target_p50_ms": TARGET_P50_MS,
               "within_target": bool(status["p50"] < TARGET_P50_MS)}
    return emit("status", results, summary, args.json)


if __name__ == "__main__":
    sys.exit(main())
