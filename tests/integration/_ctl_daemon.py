"""A real `nautilusd run` subprocess for the nautilusctl integration tests, and its config.

Each test gets its own daemon, instance name, runtime dir and shm dir; `stop()` (or leaving
its `with` block) shuts it down over the control socket (SIGKILL only if that fails) and
reaps it.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nautilusd.ctl.client import ControlClient

BIN = Path(sys.executable).parent
REFERENCE = "engines.reference:ReferenceEngine"


def engine_toml(name: str, cpus: tuple[int, ...] = (0,), group: str = "default",
                **params: Any) -> str:
    lines = [f"[engines.{name}]", f'entry = "{REFERENCE}"', f"cpus = {list(cpus)}",
             f'group = "{group}"', "max_restarts = 1", "backoff_initial_ms = 10",
             "stop_timeout_ms = 2000"]
    if params:
        lines.append(f"[engines.{name}.params]")
        lines += [f"{k} = {v!r}" for k, v in params.items()]
    return "\n".join(lines) + "\n"


def config_toml(shm_dir: Path, engines: str, instance: str, *, ring: bool = True,
                metrics_address: str = "") -> str:
    head = (f'[supervisor]\ninstance = "{instance}"\nmetrics_address = "{metrics_address}"\n'
            f'shm_dir = "{shm_dir}"\nlog_format = "json"\nlog_level = "warning"\n\n'
            "[groups.critical]\ncritical = true\n\n")
    rings = ('[rings.r1]\nrecord = "tick"\ncapacity = 1024\npolicy = "overwrite"\n'
             'writer = "alpha"\nreaders = ["beta"]\n\n') if ring else ""
    return head + rings + engines


DEFAULT_ENGINES = (engine_toml("alpha", (0,)) + engine_toml("beta", (1,))
                   + engine_toml("gamma", (0,), group="critical"))


class Daemon:
    def __init__(self, tmp: Path, runtime_dir: Path, shm_dir: Path,
                 engines: str = DEFAULT_ENGINES, *, metrics_address: str = "",
                 started: Callable[[Daemon], bool] | None = None,
                 env: dict[str, str] | None = None, pass_fds: tuple[int, ...] = ()) -> None:
        """Start nautilusd and wait until `started(self)` (default: every engine READY)."""
        self.tmp = tmp
        self.metrics_address = metrics_address  # "127.0.0.1:0": a free port, see status
        self.runtime_dir = runtime_dir
        self.shm_dir = shm_dir
        self.instance = f"ctl-{uuid.uuid4().hex[:8]}"
        self.config = self.write_config("nautilusd.toml", engines)
        self.endpoint = f"ipc://{runtime_dir}/control.sock"
        self.log = (tmp / "daemon.log").open("wb")
        self.proc = subprocess.Popen(
            [str(BIN / "nautilusd"), "run", "--config", str(self.config), "--runtime-dir",
             str(runtime_dir)], stdout=self.log, stderr=subprocess.STDOUT, env=env,
            pass_fds=pass_fds)
        ready = started or Daemon.all_ready
        try:
            self.wait_for(lambda: self.proc.poll() is None and ready(self), timeout_s=60)
        except BaseException:  # never came up: no `with` block will stop it, so stop it here
            self.stop()
            raise

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def write_config(self, filename: str, engines: str) -> Path:
        """A config for this daemon's instance and shm dir with `engines`, next to the first."""
        path = self.tmp / filename
        path.write_text(config_toml(self.shm_dir, engines, self.instance,
                                    metrics_address=self.metrics_address))
        return path

    def request(self, cmd: str, **args: Any) -> Any:
        with ControlClient(self.endpoint, timeout_ms=10_000) as client:
            return client.request(cmd, **args)

    def status(self) -> dict[str, Any]:
        return self.request("status")  # type: ignore[no-any-return]

    def resumed(self, reexecs: int) -> bool:
        """Re-executed `reexecs` times and supervising again: a live status, not the early
        control's snapshot of the earlier image's (daemon.resuming)."""
        daemon = self.status()["daemon"]
        return bool(daemon["reexecs"] == reexecs and not daemon.get("resuming"))

    def engines(self) -> dict[str, dict[str, Any]]:
        return {e["name"]: e for e in self.status()["engines"]}

    def pids(self) -> dict[str, int]:
        return {name: e["pid"] for name, e in self.engines().items()}

    def all_ready(self) -> bool:
        if self.proc.poll() is not None:
            self.log.flush()
            tail = (self.tmp / "daemon.log").read_text(errors="replace")[-2000:]
            raise AssertionError(f"nautilusd exited with {self.proc.returncode}:\n{tail}")
        try:
            engines = self.engines()
        except Exception:
            return False
        return bool(engines) and all(e["state"] == "READY" for e in engines.values())

    def ctl(self, *argv: str, timeout_s: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "nautilusctl"), *argv, "--runtime-dir",
                               str(self.runtime_dir)], capture_output=True, text=True,
                              timeout=timeout_s, check=False)

    def wait_for(self, condition: Callable[[], Any], timeout_s: float = 30) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = condition()
            if result:
                return result
            time.sleep(0.05)  # polling a condition with a deadline
        raise AssertionError(f"condition not met within {timeout_s} s; "
                             f"log: {self.read_log()[-2000:]}")

    def read_log(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            try:
                self.request("shutdown")
            except Exception:
                self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        return self.proc.returncode
