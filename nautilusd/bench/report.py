"""Shared pieces of every benchmark suite: percentiles and the table / JSON report.

A suite collects rows (one dict per measurement) and a summary with fixed keys, then calls
`emit` and exits with what it returns. Figures are medians and percentiles of many samples,
never a single timing. A measurement that failed (an error row, a summary figure left
empty) fails the suite: a report with a missing peer must not pass for a whole one.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from nautilusd.bench.host import host_info


def percentiles(samples: Sequence[float] | np.ndarray, scale: float = 1.0) -> dict[str, float]:
    """p50, p99 and p99.9 (and the count) of `samples`, each multiplied by `scale`."""
    arr = np.asarray(samples, dtype=np.float64)
    if arr.size == 0:
        return {"p50": float("nan"), "p99": float("nan"), "p999": float("nan"), "n": 0}
    p50, p99, p999 = np.percentile(arr, [50, 99, 99.9]) * scale
    return {"p50": round(float(p50), 3), "p99": round(float(p99), 3),
            "p999": round(float(p999), 3), "n": int(arr.size)}


def emit(suite: str, results: list[dict[str, Any]], summary: dict[str, Any], as_json: bool,
         out: Any = None, err: Any = None) -> int:
    """Print the report (one JSON object, or an aligned table followed by the summary) and
    return the suite's exit code: 1, each failure named on `err`, if any measurement failed."""
    out, err = out or sys.stdout, err or sys.stderr
    failed = failures(results, summary)
    for what in failed:
        err.write(f"bench {suite}: {what}\n")
    if as_json:
        doc = {"suite": suite, "host": host_info(), "results": results, "summary": summary,
               "failed": failed}
        out.write(json.dumps(doc, indent=2, default=_jsonable) + "\n")
    else:
        _table(out, suite, results, summary)
    return 1 if failed else 0


def failures(results: list[dict[str, Any]], summary: dict[str, Any]) -> list[str]:
    """What failed: every error row, and every summary figure left empty."""
    rows = [f"{row.get('transport', '?')} failed: {row.get('error', '?')}"
            for row in results if row.get("measure") == "error"]
    return rows + [f"summary {key} not measured" for key, v in summary.items()
                   if v is None or (isinstance(v, float) and math.isnan(v))]


def _table(out: Any, suite: str, results: list[dict[str, Any]],
           summary: dict[str, Any]) -> None:
    out.write(f"suite: {suite}\n")
    if results:
        columns = list(dict.fromkeys(k for row in results for k in row))
        cells = [[_fmt(row.get(c, "")) for c in columns] for row in results]
        widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
        out.write("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + "\n")
        for r in cells:
            out.write("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + "\n")
    out.write("summary:\n")
    width = max((len(k) for k in summary), default=0)
    for key, value in summary.items():
        out.write(f"  {key.ljust(width)}  {_fmt(value)}\n")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {value!r}")
