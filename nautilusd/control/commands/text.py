"""Text of the commands' renderings: aligned tables and the cell formats they share.

Input is always the JSON-able documents the daemon sends; nothing here talks to a socket.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from typing import Any


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned."""
    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    numeric = [all(_is_number(row[i]) for row in rows) and bool(rows)
               for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    for row in cells:
        lines.append("  ".join(v.rjust(w) if num else v.ljust(w)
                               for v, w, num in zip(row, widths, numeric, strict=True)).rstrip())
    return "\n".join(lines)


def cpus_text(cpus: Sequence[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5"."""
    ranges: list[list[int]] = []
    for c in sorted(set(cpus)):
        if ranges and c == ranges[-1][1] + 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return ",".join(f"{a}-{b}" if b > a else str(a) for a, b in ranges) or "-"


def exit_text(last_exit: Any) -> str:
    if not last_exit:
        return "-"
    if not isinstance(last_exit, dict):
        return str(last_exit)
    if "signal" in last_exit:
        try:
            what = signal.Signals(int(last_exit["signal"])).name
        except ValueError:
            what = f"signal {last_exit['signal']}"
    else:
        what = f"code {last_exit.get('exit_code')}"
    reason = last_exit.get("reason")
    return f"{what} ({reason})" if reason and reason not in ("exit", "signal") else what


def duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float) or seconds <= 0:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{seconds:.1f}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def milliseconds(value: Any) -> str:
    return "-" if value is None else f"{value:.0f}ms"


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}"
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
