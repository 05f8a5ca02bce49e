"""The live one-screen summary of `nautilusd run --summary`: flow rates, P&L, latency, states.

Rates come from the engines' status-table counters (free to read); P&L and tick-to-fill
percentiles from the positions and analytics engines' bus snapshots, received on a SUB
socket in the daemon's own loop. On a terminal it redraws in place; elsewhere one line/s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

import msgpack
import zmq

from nautilusd.loop import EventLoop

if TYPE_CHECKING:
    from rich.live import Live
    from rich.table import Table

TOPICS = ("analytics.summary", "trading.positions.all")
# Which engine's output counter measures which flow in the shipped pipeline.
FLOWS = (("ticks/s", "marketdata"), ("orders/s", "strategy"), ("decisions/s", "risk"),
         ("fills/s", "execution"))


class LiveSummary:
    """Owns one SUB socket and a renderer; `tick()` once a second from the event loop."""

    def __init__(self, status: Callable[[], dict[str, Any]], bus_sub_endpoint: str,
                 loop: EventLoop, out: TextIO, *, context: zmq.Context[Any] | None = None
                 ) -> None:
        self._status = status  # returns the `nautilusctl status` document
        self._loop = loop
        self._out = out
        self._sub = (context or zmq.Context.instance()).socket(zmq.SUB)
        self._sub.setsockopt(zmq.LINGER, 0)
        self._sub.setsockopt(zmq.RCVHWM, 100)
        for topic in TOPICS:
            self._sub.setsockopt(zmq.SUBSCRIBE, topic.encode())
        self._sub.connect(bus_sub_endpoint)
        loop.add_reader(self._sub, self._on_bus)
        self.latest: dict[str, dict[str, Any]] = {}
        self._last: tuple[float, dict[str, int]] | None = None
        self._live = _make_live(out)

    def _on_bus(self) -> None:
        for _ in range(100):  # bounded: the loop has other work
            try:
                topic, payload = self._sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            except ValueError:
                continue
            try:
                self.latest[topic.decode()] = msgpack.unpackb(payload)
            except (ValueError, msgpack.UnpackException, UnicodeDecodeError):
                continue  # a bad snapshot is skipped, never fatal to the daemon

    def tick(self) -> None:
        doc = self._status()
        rows = self.rows(doc, time.monotonic())
        if self._live is not None:
            self._live.update(_rich_table(rows, doc), refresh=True)
        else:
            self._out.write("  ".join(f"{k} {v}" for k, v in rows if k != "engines") + "\n")
            self._out.flush()

    def rows(self, doc: dict[str, Any], now: float) -> list[tuple[str, str]]:
        """The summary as (label, text) pairs, rates over the interval since the last call."""
        outs = {e["name"]: int(e.get("counters", {}).get("records_out", 0))
                for e in doc.get("engines", [])}
        rates = _rates(self._last, now, outs)
        self._last = (now, outs)
        rows = [(label, rates.get(engine, "-")) for label, engine in FLOWS]
        rows.append(("fills", str(outs.get("execution", 0))))
        pos = self.latest.get("trading.positions.all", {})
        rows.append(("P&L", _money(pos.get("pnl"))))
        latency = self.latest.get("analytics.summary", {}).get("tick_to_fill_us") or {}
        rows.append(("tick-to-fill p50/p99",
                     f"{_us(latency.get('p50_us'))} / {_us(latency.get('p99_us'))}"))
        states = " ".join(f"{e['name']}:{e['state']}" for e in doc.get("engines", []))
        rows.append(("engines", states))
        return rows

    def close(self) -> None:
        self._loop.remove_reader(self._sub)
        self._sub.close(linger=0)
        if self._live is not None:
            self._live.stop()


def _rates(last: tuple[float, dict[str, int]] | None, now: float,
           outs: dict[str, int]) -> dict[str, str]:
    if last is None or now <= last[0]:
        return {}
    dt = now - last[0]
    return {name: f"{max(0, n - last[1].get(name, 0)) / dt:,.0f}" for name, n in outs.items()}


def _money(value: float | None) -> str:
    return "-" if value is None else f"{float(value):,.2f}"


def _us(value: float | None) -> str:
    return "-" if value is None else f"{float(value):,.0f} us"


def _make_live(out: TextIO) -> Live | None:
    if not out.isatty():
        return None
    from rich.console import Console
    from rich.live import Live

    live = Live(console=Console(file=out), auto_refresh=False, transient=False)
    live.start()
    return live


def _rich_table(rows: list[tuple[str, str]], doc: dict[str, Any]) -> Table:
    from rich.table import Table

    daemon = doc.get("daemon", {})
    table = Table(title=f"nautilusd {daemon.get('instance', '')}  pid {daemon.get('pid', '')}"
                        "  (Ctrl-C stops)", show_header=False, expand=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    for label, value in rows:
        if label != "engines":
            table.add_row(label, value)
    for e in doc.get("engines", []):
        style = "green" if e.get("state") == "READY" else "yellow"
        table.add_row(e["name"], f"[{style}]{e['state']}[/] pid {e.get('pid') or '-'}"
                                 f" restarts {e.get('restarts', 0)}")
    return table
