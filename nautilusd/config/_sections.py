"""The schema of each config section: which keys a table allows and how each is converted.

Builds the frozen objects of nautilusd.config.model from one parsed TOML table at a time;
checks that span sections (writers, cores, cycles) live in nautilusd.config._crosscheck.
"""

from __future__ import annotations

import re
from typing import Any, Final

from engines.spec import EngineConfig, RestartPolicy, RingConfig, RLimits, SpinKind
from nautilusd.config import _convert as cv
from nautilusd.config._convert import INVALID, Collector, Field
from nautilusd.config.model import GroupConfig, GroupStrategy, SupervisorConfig
from shm import Policy, WaitKind
from shm.errors import ShmError
from shm.latest import key_format
from shm.layout import RECORDS

# Names end up in segment names, socket paths and `name-<i>` replica names.
NAME_PATTERN: Final = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}"
_ENTRY_PATTERN: Final = r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*"
_NAME: Final = re.compile(NAME_PATTERN)
MAX_READERS: Final = 8
MAX_SPIN_US: Final = 1_000_000  # a spin budget beyond a second is a busy_spin: say so instead
_MB: Final = 1024 * 1024

_cpus = cv.array(cv.integer(0), distinct=True)
_positive = cv.integer(1)
_name = cv.string(NAME_PATTERN, "a valid name (letters, digits, '_', '.', '-')")
_endpoint = cv.string(r"(ipc|tcp)://\S+", "a ZeroMQ endpoint 'ipc://PATH' or 'tcp://HOST:PORT'")
_metrics = cv.string(r"(\S*:(\d{1,4}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5]))?",
                     "an address 'HOST:PORT' with PORT 0..65535 (or '' to disable)")
# Ranges `run` can honour: beyond them an mmap, a timer or a C long overflows.
MAX_STATUS_SLOTS: Final = 4096
MAX_RING_CAPACITY: Final = 1 << 30
MAX_TIMEOUT_MS: Final = 86_400_000  # a day
MAX_REPLICAS: Final = 256
_timeout_ms = cv.integer(1, MAX_TIMEOUT_MS)

SUPERVISOR_SPEC: Final = {
    "instance": Field(_name),
    "runtime_dir": Field(cv.path_value),
    "state_dir": Field(cv.path_value),
    "shm_dir": Field(cv.path_value),
    "control_endpoint": Field(_endpoint),
    "bus_pub_endpoint": Field(_endpoint),
    "bus_sub_endpoint": Field(_endpoint),
    "metrics_address": Field(_metrics),
    "cpus": Field(_cpus),
    "keep_rings": Field(cv.boolean),
    "log_format": Field(cv.one_of(("auto", "json", "console", "journald"), "log format")),
    "log_level": Field(
        cv.one_of(("debug", "info", "warning", "error", "critical"), "log level")
    ),
    "status_slots": Field(cv.integer(1, MAX_STATUS_SLOTS)),
    "shutdown_timeout_ms": Field(_timeout_ms),
    "watchdog_critical_group": Field(cv.string()),
}

GROUP_SPEC: Final = {
    "strategy": Field(cv.choice(GroupStrategy, "group strategy")),
    "critical": Field(cv.boolean),
}

RING_SPEC: Final = {
    "record": Field(cv.one_of(tuple(RECORDS), "record type")),
    "capacity": Field(cv.integer(1, MAX_RING_CAPACITY)),
    "policy": Field(cv.choice(Policy, "ring policy")),
    "writer": Field(cv.string()),
    "readers": Field(cv.array(cv.string(), distinct=True)),
    "block_timeout_ms": Field(_timeout_ms),
    "latest": Field(cv.boolean),
}
RING_REQUIRED: Final = ("record", "capacity", "policy", "writer")

RLIMITS_SPEC: Final = {
    "memlock": Field(cv.integer(-1)),
    "nofile": Field(cv.integer(-1)),
    "as": Field(cv.integer(-1), "as_bytes"),
}


def _rlimits(c: Collector, path: str, value: Any) -> Any:
    if not isinstance(value, dict):
        return c.wrong_type(path, "table", value)
    return RLimits(**cv.table(c, path, value, RLIMITS_SPEC))


def _memory_mb(c: Collector, path: str, value: Any) -> Any:
    converted = cv.integer(1)(c, path, value)
    return INVALID if converted is INVALID else converted * _MB


def _command(c: Collector, path: str, value: Any) -> Any:
    argv = cv.array(cv.string(), non_empty=True)(c, path, value)
    if argv is not INVALID and not argv[0]:
        c.error(f"{path}[0]", "the program must not be empty: ''")
        return INVALID
    return argv


ENGINE_SPEC: Final = {
    "entry": Field(cv.string(_ENTRY_PATTERN, "a Python entry point 'package.module:Class'")),
    "command": Field(_command),
    "cpus": Field(_cpus),
    "group": Field(cv.string()),
    "after": Field(cv.array(cv.string(), distinct=True)),
    "restart": Field(cv.choice(RestartPolicy, "restart policy")),
    "backoff_initial_ms": Field(cv.integer(0)),
    "backoff_max_ms": Field(_positive),
    "backoff_jitter": Field(cv.number(0.0, 1.0)),
    "max_restarts": Field(cv.integer(0)),
    "restart_window_s": Field(cv.number(0.0, low_open=True)),
    "startup_timeout_ms": Field(_positive),
    "liveness_timeout_ms": Field(_positive),
    "stop_timeout_ms": Field(_positive),
    "wait": Field(cv.choice(WaitKind, "wait strategy")),
    "spin_us": Field(cv.integer(0, MAX_SPIN_US)),
    "spin": Field(cv.choice(SpinKind, "spin kind")),
    "nice": Field(cv.integer(-20, 19)),
    "start_nice": Field(cv.integer(-20, 19)),
    "sched_fifo_priority": Field(cv.integer(1, 99)),
    "mlockall": Field(cv.boolean),
    "rlimits": Field(_rlimits),
    "memory_max_mb": Field(_memory_mb, "memory_max_bytes"),
    "environment": Field(cv.string_map),
    "user": Field(cv.string(r".+", "a user name")),
    "params": Field(cv.frozen_table),
    "replicas": Field(cv.integer(1, MAX_REPLICAS)),
}


def supervisor(c: Collector, value: Any) -> SupervisorConfig:
    return SupervisorConfig(**cv.table(c, "supervisor", value, SUPERVISOR_SPEC))


def group(c: Collector, name: str, value: Any) -> GroupConfig:
    path = cv.key_path("groups", name)
    _check_name(c, path, name)
    return GroupConfig(name=name, **cv.table(c, path, value, GROUP_SPEC))


def engine(c: Collector, name: str, value: Any) -> EngineConfig:
    path = cv.key_path("engines", name)
    _check_name(c, path, name)
    fields = cv.table(c, path, value, ENGINE_SPEC)
    given = [k for k in ("entry", "command") if isinstance(value, dict) and k in value]
    if len(given) != 1:
        found = "both" if given else "neither"
        c.error(path, f"needs exactly one of 'entry' or 'command', found {found}")
    built = EngineConfig(name=name, **fields)
    if built.backoff_max_ms < built.backoff_initial_ms:  # either may be a default
        c.error(f"{path}.backoff_max_ms", f"smaller than backoff_initial_ms: "
                f"{built.backoff_max_ms} < {built.backoff_initial_ms}")
    return built


def ring(c: Collector, name: str, value: Any) -> RingConfig | None:
    """The ring, or None when a required key is missing or bad (already reported)."""
    path = cv.key_path("rings", name)
    _check_name(c, path, name)
    original = value
    if isinstance(value, dict) and isinstance(value.get("writer"), list):
        # The classic mistake: several writers. Say so instead of "expected string".
        c.error(f"{path}.writer", f"a ring has exactly one writer, found "
                f"{len(value['writer'])}: {cv.show(value['writer'])}")
        value = {k: v for k, v in value.items() if k != "writer"}
    fields = cv.table(c, path, value, RING_SPEC)
    capacity = fields.get("capacity")
    if capacity is not None and capacity & (capacity - 1):
        c.error(f"{path}.capacity", f"not a power of two: {capacity}")
    record = fields.get("record")
    if fields.get("latest") and record in RECORDS and not _keyed(RECORDS[record]):
        c.error(f"{path}.latest", f"record {record!r} has no 'symbol_id' field to keep a "
                f"latest-value board by")
    if len(fields.get("readers", ())) > MAX_READERS:
        c.error(f"{path}.readers", f"at most {MAX_READERS} readers, found "
                f"{len(fields['readers'])}: {cv.show(list(fields['readers']))}")
    missing = [k for k in RING_REQUIRED if isinstance(original, dict) and k not in original]
    for key in missing:
        what = "no writer (a ring needs exactly one)" if key == "writer" else "missing"
        c.error(f"{path}.{key}", f"{what}: required key {key!r} not set")
    if isinstance(original, dict) and "readers" not in original:
        fields["readers"] = ()  # a ring nobody reads yet is legal (a tap may attach later)
    if missing or any(k not in fields for k in (*RING_REQUIRED, "readers")):
        return None
    return RingConfig(name=name, **fields)


def _keyed(dtype: Any) -> bool:
    try:
        key_format(dtype)
    except ShmError:
        return False
    return True


def _check_name(c: Collector, path: str, name: str) -> None:
    if not _NAME.fullmatch(name):
        c.error(path, f"not a valid name: {cv.show(name)} "
                f"(letters, digits, '_', '.', '-'; at most 64 characters)")
