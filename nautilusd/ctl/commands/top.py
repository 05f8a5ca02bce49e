"""top: a live view of engines and rings, refreshed every --interval seconds.

Wire: a `status` and a `rings` request per frame (see those commands).
CLI:  nautilusctl top [--interval S] [--once] [--json]   (--json: one JSON line per frame)
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from nautilusd.control.commands import rings, status, text
from nautilusd.control.commands.spec import EXIT_OK
from nautilusd.ctl.local import Local
from nautilusd.ctl.session import Session

NAME = "top"
Frame = tuple[dict[str, Any], list[dict[str, Any]]]


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--once", action="store_true", help="print one frame and exit")


def main(args: argparse.Namespace, session: Session) -> int:
    def frame() -> Frame:
        client = session.control()
        return client.request("status"), client.request("rings")["rings"]

    if not (args.json or args.once):
        return _live(frame, args.interval)
    while True:
        doc, ring_list = frame()
        if args.json:
            session.write(json.dumps({"status": doc, "rings": ring_list}, default=str))
        else:
            session.write(status.status_text(doc) + "\n\n" + rings.rings_text(ring_list))
        if args.once:
            return EXIT_OK
        time.sleep(args.interval)  # the refresh period of the view, not a wait


def _live(frame: Any, interval_s: float) -> int:
    from rich.live import Live  # only the live view needs rich

    with Live(view(*frame()), refresh_per_second=4, screen=False) as live:
        while True:
            time.sleep(interval_s)  # the refresh period of the view, not a wait
            live.update(view(*frame()))


def view(doc: dict[str, Any], ring_list: list[dict[str, Any]]) -> Any:
    """A rich renderable of engines and rings."""
    from rich.console import Group
    from rich.table import Table

    d = doc.get("daemon", {})
    engines = Table(title=f"nautilusd {d.get('instance', '?')} (pid {d.get('pid', '?')}, "
                          f"up {text.duration(d.get('uptime_s'))}, {d.get('health', '?')})",
                    expand=True)
    for col in status.ENGINE_COLUMNS:
        engines.add_column(col, no_wrap=True)
    for row in status.engine_rows(doc):
        engines.add_row(*(text.cell(v) for v in row), style=_state_style(row[1]))
    ring_table = Table(title="rings", expand=True)
    for col in rings.RING_COLUMNS:
        ring_table.add_column(col, no_wrap=True)
    for row in rings.ring_rows(ring_list)[0]:
        ring_table.add_row(*(text.cell(v) for v in row))
    return Group(engines, ring_table)


def _state_style(state: Any) -> str:
    return {"READY": "green", "FATAL": "bold red", "BACKOFF": "yellow",
            "EXITED": "red", "STARTING": "cyan", "STOPPING": "cyan"}.get(str(state), "")


COMMAND = Local(name=NAME, help="live view of engines and rings", arguments=arguments,
                main=main)
