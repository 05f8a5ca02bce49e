"""`check` and `run` agree: random mutations of configs/default.toml that `check` accepts all
start and stop under a real `nautilusd run` (exit 0, no traceback anywhere in its output).

Every mutation is checked in-process (cheap); only the accepted ones start a daemon, which
is stopped with SIGTERM once no engine is STARTING any more (READY, BACKOFF and FATAL are all
answers). NAUTILUSD_MUTATION_EXAMPLES sets the number of mutations (200 by default); the
same ones every run (derandomized) unless NAUTILUSD_MUTATION_HUNT=1 asks for fresh ones.
"""

from __future__ import annotations

import copy
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from nautilusd.config._sections import ENGINE_SPEC, GROUP_SPEC, RING_SPEC, SUPERVISOR_SPEC
from nautilusd.config.params import load_checked
from nautilusd.config.tomlwriter import toml_document
from nautilusd.ctl.client import ControlClient
from nautilusd.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = tomllib.loads((ROOT / "configs" / "default.toml").read_text())
EXAMPLES = int(os.environ.get("NAUTILUSD_MUTATION_EXAMPLES", "200"))
HUNT = bool(os.environ.get("NAUTILUSD_MUTATION_HUNT"))  # fresh random mutations, not the fixed set
BIN = Path(sys.executable).parent
SETTLE_S = 20.0  # an engine still STARTING after this long is a failure of the run
STOP_S = 60.0

COUNTS: dict[str, float] = {"refused": 0, "run": 0, "run_s": 0.0}
pytestmark = [pytest.mark.slow, pytest.mark.timeout(max(600, 6 * EXAMPLES))]

# Keys a test cannot let vary: each run's own names, dirs and ports (parallel runs must not
# collide, nothing may reach the network), and what would take the shared host's cores
# (SCHED_FIFO engines) or dwarf the run (dozens of replicas).
FORCED_SUPERVISOR = ("instance", "shm_dir", "runtime_dir", "state_dir", "metrics_address",
                     "control_endpoint", "bus_pub_endpoint", "bus_sub_endpoint", "cpus")
NOT_MUTATED_ENGINE = ("sched_fifo_priority", "entry", "command", "environment")

numbers = st.one_of(
    st.sampled_from([0, 1, -1, 2, 3, 7, 8, 64, 1000, 4096, 65535, 65536, 2**31, 2**32,
                     2**62, 2**63 - 1]),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0.0, 0.5, 1.0, -1.0, 1e-9, 1e9, 1e300, math.inf, -math.inf, math.nan]),
)
words = st.sampled_from(["always", "never", "on-failure", "on_failure", "one_for_one",
                         "one_for_all", "rest_for_one", "blocking", "busy_spin", "yielding",
                         "sleeping", "hot", "cold", "block", "overwrite", "tick", "order",
                         "decision", "fill", "raw64", "nobody", "root", "critical", "support",
                         "durability", "journal", "strategy", "risk", "", "x", "json",
                         "debug", "batch", "interval", "none", "gbm", "replay"])
plain = st.one_of(numbers, st.booleans(), words,
                  st.lists(st.integers(-1, 3), max_size=3), st.lists(words, max_size=3))


def _tables(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any], list[str]]]:
    """Every table a mutation may touch: (path, table, keys it may add)."""
    found: list[tuple[str, dict[str, Any], list[str]]] = [
        ("supervisor", doc.setdefault("supervisor", {}), sorted(SUPERVISOR_SPEC))]
    for section, spec in (("groups", GROUP_SPEC), ("engines", ENGINE_SPEC),
                          ("rings", RING_SPEC)):
        for name, table in sorted(doc.get(section, {}).items()):
            found.append((f"{section}.{name}", table, sorted(spec)))
            if section == "engines" and isinstance(table.get("params"), dict):
                found.append((f"{section}.{name}.params", table["params"],
                              sorted(table["params"])))
    return found


@st.composite
def nudged(draw: st.DrawFn, value: Any) -> Any:
    """`value` changed but kept its type: what an operator's edit usually looks like."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return draw(st.sampled_from([value * 2, value // 2, value + 1, value - 1, 0, 1,
                                     value * 1024]))
    if isinstance(value, float):
        return draw(st.sampled_from([value * 2, value / 2, 0.0, value * 1e6, -value]))
    if isinstance(value, list):
        if value and draw(st.booleans()):
            return value[: draw(st.integers(0, len(value) - 1))]
        return [*value, *draw(st.lists(st.one_of(words, st.integers(0, 1)), max_size=1))]
    return draw(words)


@st.composite
def mutations(draw: st.DrawFn) -> dict[str, Any]:
    """default.toml with one to three random edits: nudge (same type), replace, delete or
    add a key of one table (supervisor, a group, an engine, its params, a ring), or drop a
    whole engine."""
    doc = copy.deepcopy(DEFAULT)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["nudge", "nudge", "nudge", "replace", "delete", "add",
                                       "drop"]))
        if action == "drop":
            engines = doc["engines"]
            if engines:
                del engines[draw(st.sampled_from(sorted(engines)))]
            continue
        _path, table, addable = draw(st.sampled_from(_tables(doc)))
        if action == "add" or not table:
            table[draw(st.sampled_from(addable or ["extra"]))] = draw(plain)
        elif action == "delete":
            del table[draw(st.sampled_from(sorted(table)))]
        elif action == "nudge":
            key = draw(st.sampled_from(sorted(table)))
            table[key] = draw(nudged(table[key]))
        else:
            key = draw(st.sampled_from(sorted(table)))
            table[key] = draw(plain)
    return doc


def _pin_for_the_test(doc: dict[str, Any], tmp: Path, shm_dir: Path) -> None:
    """Private names, dirs and ports for this run, whatever the mutation did to them."""
    sup = doc.get("supervisor")
    if not isinstance(sup, dict):
        sup = doc["supervisor"] = {}
    for key in FORCED_SUPERVISOR:
        sup.pop(key, None)
    sup.update(instance=f"mut{uuid.uuid4().hex[:8]}", shm_dir=str(shm_dir),
               runtime_dir=str(tmp / "rt"), state_dir=str(tmp / "state"),
               metrics_address="127.0.0.1:0")
    for engine in doc.get("engines", {}).values():
        if not isinstance(engine, dict):
            continue
        for key in NOT_MUTATED_ENGINE:
            if key in engine and not (key == "entry" and isinstance(engine[key], str)):
                engine.pop(key)
        if isinstance(engine.get("replicas"), int) and engine["replicas"] > 3:
            engine["replicas"] = 3
        params = engine.get("params")
        if isinstance(params, dict):
            if "port" in params:
                params["port"] = 0
            if "webhook_url" in params:
                params["webhook_url"] = ""


def _states(endpoint: str) -> list[str] | None:
    try:
        with ControlClient(endpoint, timeout_ms=2000) as client:
            return [e["state"] for e in client.request("status")["engines"]]
    except Exception:  # not listening yet
        return None


def _wait_settled(endpoint: str, proc: subprocess.Popen[bytes]) -> bool:
    """Until the daemon exited, or no engine is STARTING and the states held for 0.2 s."""
    deadline = time.monotonic() + SETTLE_S
    last: list[str] | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return True
        states = _states(endpoint)
        if states is not None and "STARTING" not in states and states == last:
            return True
        last = states
        time.sleep(0.2)  # polling a condition with a deadline
    return False


def _run_and_stop(config: Path, tmp: Path) -> tuple[int | None, str]:
    """Start `nautilusd run`, wait until nothing is starting, SIGTERM it; (exit code, output)."""
    log_path = tmp / "daemon.log"
    endpoint = f"ipc://{tmp / 'rt' / 'control.sock'}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(BIN / "nautilusd"), "run", "--config", str(config)],
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            settled = _wait_settled(endpoint, proc)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(STOP_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    output = log_path.read_text(errors="replace")
    if not settled:
        output += "\n[test] engines still STARTING after the settle time\n"
    return code, output


@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not HUNT,
          phases=(Phase.explicit, Phase.generate, Phase.target),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(doc=mutations())
def test_run_when_check_accepts_a_mutated_default_starts_and_stops_without_traceback(
        doc: dict[str, Any], shm_root: Path) -> None:
    """A mutation check refuses is done with; one it accepts runs: the daemon comes up,
    every engine gets past STARTING, SIGTERM stops it with exit 0 and no traceback."""
    tmp = Path(f"/tmp/nd-mut-{uuid.uuid4().hex[:10]}")
    shm_dir = shm_root / uuid.uuid4().hex[:8]
    tmp.mkdir(mode=0o700)
    shm_dir.mkdir(mode=0o700)
    try:
        _pin_for_the_test(doc, tmp, shm_dir)
        config = tmp / "mutated.toml"
        try:
            config.write_text(toml_document(doc))
        except TypeError:  # not writable as a topology (a table where a scalar goes)
            return
        try:
            load_checked(config)
        except ConfigError:
            COUNTS["refused"] += 1
            return
        started = time.monotonic()
        code, output = _run_and_stop(config, tmp)
        COUNTS["run"] += 1
        COUNTS["run_s"] += time.monotonic() - started
        at = output.find("Traceback")
        excerpt = output[max(0, at - 1500) : at + 3000] if at >= 0 else output[-4000:]
        assert at < 0 and "[test]" not in output and code == 0, (
            f"exit {code}; config:\n{config.read_text()}\noutput:\n{excerpt}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(shm_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def shm_root() -> Any:
    """One directory under /dev/shm for the module's runs (each run gets its own inside)."""
    path = Path("/dev/shm") / f"nautilusd-test-mut-{uuid.uuid4().hex[:8]}"
    path.mkdir(mode=0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def teardown_module() -> None:
    # The property is about accepted configs: a generator whose edits check always refuses
    # would pass without starting anything.
    assert COUNTS["run"] >= EXAMPLES // 10, f"only {COUNTS['run']:.0f} mutations were run"
    print(f"\nmutations: {COUNTS['refused']:.0f} refused by check, {COUNTS['run']:.0f} run "
          f"({COUNTS['run_s']:.0f} s in daemons)")
