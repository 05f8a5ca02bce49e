"""Every benchmark suite runs end to end in quick mode and prints its JSON contract.

These tests check structure only (suite name, host, rows, the exact summary keys): the speed
targets are judged by reading the benchmarks' figures, never by timed assertions here.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

SUMMARY_KEYS = {
    "rings": {"ring_spin_rtt_p50_us", "ring_spin_rtt_p99_us", "ring_block_rtt_p50_us",
              "ring_block_idle_cpu_pct", "pipe_rtt_p50_us", "zmq_rtt_p50_us",
              "ring_single_msgs_per_s", "ring_batch_msgs_per_s", "zmq_single_msgs_per_s",
              "zmq_batch_msgs_per_s"},
    "restart": {"nautilusd_exit_seen_p50_ms", "nautilusd_respawn_p50_ms",
                "nautilusd_respawn_p99_ms", "nautilusd_ready_p50_ms", "nautilusd_ready_p99_ms",
                "supervisord_respawn_p50_ms", "outside_exit_seen_p50_ms",
                "outside_ready_p50_ms", "bench_vs_outside_max_ratio"},
    "journal": {"journal_records_per_s", "journal_fsync_p99_ms",
                "tick_to_fill_p50_us_with_journal", "tick_to_fill_p50_us_without_journal",
                "with_over_without"},
    "pipeline": {"ring_tick_to_fill_p50_us", "ring_tick_to_fill_p99_us",
                 "ring_tick_to_fill_p999_us", "ring_tick_to_fill_above_1ms",
                 "ring_tick_to_fill_samples", "zmq_tick_to_fill_p50_us",
                 "zmq_tick_to_fill_p99_us", "zmq_tick_to_fill_p999_us", "risk_orders_per_s",
                 "ticks_per_s", "fix_order_to_ack_p50_us"},
}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("suite", ["rings", "restart", "pipeline", "idle", "status",
                                   "journal"])
def test_bench_when_run_quick_prints_suite_summary_with_contract_keys(suite: str) -> None:
    """`nautilusctl bench SUITE --quick --json` exits 0 with one JSON document and real figures."""
    result = subprocess.run([str(BIN / "nautilusctl"), "bench", suite, "--quick", "--json"],
                            capture_output=True, text=True, timeout=280, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    doc = json.loads(result.stdout)
    assert doc["suite"] == suite and doc["host"]["cores"] and doc["results"]
    summary = doc["summary"]
    if suite in SUMMARY_KEYS:
        assert set(summary) == SUMMARY_KEYS[suite]
    numbers = [v for v in summary.values() if isinstance(v, int | float)]
    assert numbers and all(math.isfinite(v) and v >= 0 for v in numbers), summary


@pytest.mark.timeout(120)
def test_bench_websocket_when_run_small_prints_the_contract_keys() -> None:
    """`bench websocket --quick --json` (50 clients here: the full 1,000 is the bench's own
    job) reports clients, aggregate rate, delivery p99 and the stalled client's effect."""
    result = subprocess.run([str(BIN / "nautilusctl"), "bench", "websocket", "--quick",
                             "--json", "--clients", "50"],
                            capture_output=True, text=True, timeout=110, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)["summary"]
    assert {"ws_clients", "ws_msgs_per_s", "ws_delivery_p99_ms",
            "ws_slow_client_effect_pct"} <= set(summary)
    assert summary["ws_clients"] == 50 and summary["ws_msgs_per_s"] > 0
