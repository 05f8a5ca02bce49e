"""Benchmark suites run by `nautilusctl bench SUITE`: one module per suite.

Each module `nautilusd.bench.<suite>` exposes `main(argv: list[str]) -> int` and accepts
`--quick` and `--json`. With `--json` it prints one object with "suite", "host",
"results" and "summary".
"""

from __future__ import annotations

SUITES = ("rings", "restart", "pipeline", "status", "idle", "metrics")
