"""The chaos topology: configs/default.toml with private dirs, deep order rings and variants.

Order, decision and fill rings are sized so a whole run fits (the reconciliation reads them
from position 0 after a clean stop, keep_rings = true); the ticks ring is small so a stopped
reader gets lapped in about a second. Variants break one engine on purpose (crash loop,
memory cap) and are applied with a config reload.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

from nautilusd.config.tomlwriter import toml_document
from nautilusd.paths import scratch_id

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = ROOT / "configs" / "default.toml"
AUDIT_CAPACITY = 1 << 17  # orders, decisions, fills: far more than a 60 s run publishes
TICKS_CAPACITY = 512
TICK_RATE_PER_S = 800.0
LIVENESS_TIMEOUT_MS = 2_000
CRASH_LOOP_ENGINE = "analytics"
MEMORY_ENGINE = "notification"


def chaos_doc(shm_dir: Path, runtime_dir: Path, seed: int) -> dict[str, Any]:
    """The base chaos topology as a TOML document (dict)."""
    doc = tomllib.loads(DEFAULT_CONFIG.read_text())
    doc["symbols"] = ["AAPL", "MSFT", "ESZ6"]
    doc["supervisor"].update(
        instance=f"chaos{scratch_id(6)}", shm_dir=str(shm_dir),
        runtime_dir=str(runtime_dir), metrics_address="", log_format="json",
        state_dir=str(runtime_dir.parent / "state"),  # this run's own, gone with its work dir
        log_level="info", keep_rings=True, shutdown_timeout_ms=15_000)
    for engine in doc["engines"].values():
        # Many kills in a short window are the point here: no engine may turn FATAL by them.
        engine.update(max_restarts=1_000, restart_window_s=1.0,
                      liveness_timeout_ms=LIVENESS_TIMEOUT_MS)
    md = doc["engines"]["marketdata"]["params"]
    md.update(seed=seed, rate_per_s=TICK_RATE_PER_S, burst_every_s=3.0, burst_ticks=100)
    doc["engines"]["positions"]["params"].update(snapshot_file="positions.json",
                                                 snapshot_interval_s=0.5)
    for name in ("orders", "decisions", "fills"):
        doc["rings"][name]["capacity"] = AUDIT_CAPACITY
    doc["rings"]["ticks"]["capacity"] = TICKS_CAPACITY
    if "gateway" in doc["engines"]:  # any free port: runs must not collide on 8765
        doc["engines"]["gateway"].setdefault("params", {})["port"] = 0
    return doc


def crash_loop_doc(base: dict[str, Any]) -> dict[str, Any]:
    """`analytics` fails at every start: it exits, backs off, turns FATAL. (Its slot runs the
    reference engine, crashing at once: bad params are refused before they reach an engine.)
    """
    doc = copy.deepcopy(base)
    engine = doc["engines"][CRASH_LOOP_ENGINE]
    engine.update(max_restarts=3, restart_window_s=30.0, backoff_initial_ms=20,
                  backoff_max_ms=200, entry="engines.reference:ReferenceEngine")
    engine["params"] = {"crash_after_s": 0.0, "crash_code": 3}
    return doc


def memory_cap_doc(base: dict[str, Any]) -> dict[str, Any]:
    """`notification` gets a 1 MB RSS cap: every start exceeds it and is killed for memory."""
    doc = copy.deepcopy(base)
    doc["engines"][MEMORY_ENGINE].update(memory_max_mb=1, backoff_initial_ms=200,
                                         backoff_max_ms=500)
    return doc


def write_doc(path: Path, doc: dict[str, Any]) -> Path:
    """Write `doc` as TOML atomically (the daemon may re-read the file at any time)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(toml_document(doc))
    tmp.replace(path)
    return path
