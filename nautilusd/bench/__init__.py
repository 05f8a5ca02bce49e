"""Benchmark suites run by `nautilusctl bench SUITE`: one module per suite (rings, restart,
pipeline, status, idle, metrics).

Each module `nautilusd.bench.<suite>` exposes `main(argv: list[str]) -> int` and accepts
`--quick` and `--json`. With `--json` it prints one object with "suite", "host",
"results" and "summary".
"""
