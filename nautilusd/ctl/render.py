"""Human output of nautilusctl: aligned text tables and the live `top` view.

Input is always the JSON-able documents the daemon sends; nothing here talks to a socket.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from typing import Any

ENGINE_COLUMNS = ("ENGINE", "STATE", "PID", "CPUS", "UPTIME", "RESTARTS", "LAST EXIT",
                  "HB AGE", "READY", "IN", "OUT", "ERR")
RING_COLUMNS = ("RING", "POLICY", "WRITER", "CAPACITY", "CURSOR", "FILL", "RATE/S",
                "OVERRUNS", "BP WAITS", "BOARD")
READER_COLUMNS = ("RING", "READER", "PID", "CURSOR", "LAG", "LOST", "PARKED", "ACTIVE")


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    numeric = [all(_is_number(row[i]) for row in rows) and bool(rows)
               for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    for row in cells:
        lines.append("  ".join(v.rjust(w) if num else v.ljust(w)
                               for v, w, num in zip(row, widths, numeric, strict=True)).rstrip())
    return "\n".join(lines)


def engine_rows(doc: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for e in doc.get("engines", []):
        counters = e.get("counters") or {}
        rows.append([e.get("name"), e.get("state"), e.get("pid") or "-",
                     cpus_text(e.get("cpus") or []), duration(e.get("uptime_s")),
                     e.get("restarts", 0), exit_text(e.get("last_exit")),
                     _ms(e.get("heartbeat_age_ms")), "yes" if e.get("ready") else "no",
                     counters.get("records_in", 0), counters.get("records_out", 0),
                     counters.get("errors", 0)])
    return rows


def status_text(doc: dict[str, Any]) -> str:
    d = doc.get("daemon", {})
    head = (f"nautilusd {d.get('instance', '?')}  pid {d.get('pid', '?')}  "
            f"up {duration(d.get('uptime_s'))}  health {d.get('health', '?')}  "
            f"engines {d.get('engines_ready', '?')}/{d.get('engines_total', '?')} ready")
    return head + "\n\n" + table(ENGINE_COLUMNS, engine_rows(doc))


def ring_rows(rings: list[dict[str, Any]]) -> tuple[list[list[Any]], list[list[Any]]]:
    main, readers = [], []
    for r in rings:
        rate = r.get("rate_per_s")
        main.append([r.get("name"), r.get("policy"), r.get("writer", r.get("writer_pid", "-")),
                     r.get("capacity"), r.get("cursor"), f"{100 * (r.get('fill') or 0):.1f}%",
                     "-" if rate is None else f"{rate:,.0f}", r.get("overruns", 0),
                     r.get("backpressure_waits", 0), r.get("latest_slots") or "-"])
        for rd in r.get("readers", []):
            if "name" not in rd and not rd.get("active", True):
                continue  # a spare slot no configured reader uses
            readers.append([r.get("name"), rd.get("name", rd.get("index")), rd.get("pid") or "-",
                            rd.get("cursor"), rd.get("lag"), rd.get("lost"),
                            "yes" if rd.get("parked") else "no",
                            "yes" if rd.get("active", True) else "no"])
    return main, readers


def rings_text(rings: list[dict[str, Any]]) -> str:
    if not rings:
        return "no rings"
    main, readers = ring_rows(rings)
    return table(RING_COLUMNS, main) + "\n\n" + table(READER_COLUMNS, readers)


def top_view(doc: dict[str, Any], rings: list[dict[str, Any]]) -> Any:
    """A rich renderable of engines and rings, refreshed by `nautilusctl top`."""
    from rich.console import Group
    from rich.table import Table

    d = doc.get("daemon", {})
    engines = Table(title=f"nautilusd {d.get('instance', '?')} (pid {d.get('pid', '?')}, "
                          f"up {duration(d.get('uptime_s'))}, {d.get('health', '?')})",
                    expand=True)
    for col in ENGINE_COLUMNS:
        engines.add_column(col, no_wrap=True)
    for row in engine_rows(doc):
        engines.add_row(*(_cell(v) for v in row), style=_state_style(row[1]))
    ring_table = Table(title="rings", expand=True)
    for col in RING_COLUMNS:
        ring_table.add_column(col, no_wrap=True)
    for row in ring_rows(rings)[0]:
        ring_table.add_row(*(_cell(v) for v in row))
    return Group(engines, ring_table)


def event_line(topic: str, payload: Any) -> str:
    if isinstance(payload, dict):
        fields = " ".join(f"{k}={_cell(v)}" for k, v in payload.items())
        return f"{topic}  {fields}"
    return f"{topic}  {payload!r}"


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


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.0f}ms"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}"
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _state_style(state: Any) -> str:
    return {"READY": "green", "FATAL": "bold red", "BACKOFF": "yellow",
            "EXITED": "red", "STARTING": "cyan", "STOPPING": "cyan"}.get(str(state), "")
