"""The live one-screen summary of `nautilusd run --summary`: flow rates, order outcomes,
rejections by reason, P&L, latency, engine states.

Rates and the accepted/rejected/stale/fills counts come from the engines' status-table
counters (free to read), each as "total (+since the last line)". Rejections by reason come
from risk's `risk.alerts.<reason>` messages (the window's count and the reason's total);
P&L and tick-to-fill percentiles from the positions and analytics engines' bus snapshots,
all received on one SUB socket in the daemon's own loop. On a terminal it redraws in place;
elsewhere one line/s.
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

ALERTS = "risk.alerts."
TOPICS = ("analytics.summary", "trading.positions.all", ALERTS)
# Which engine's output counter measures which flow in the shipped pipeline.
FLOWS = (("ticks/s", "marketdata"), ("orders/s", "strategy"), ("decisions/s", "risk"),
         ("fills/s", "execution"))
# Named counters summed over every engine that declares them (risk: accepted, rejected,
# stale; execution: stale, fills); an order stale at risk never reaches execution.
OUTCOMES = ("accepted", "rejected", "stale", "fills")


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
        self.reasons = RejectionTally()
        self._last: tuple[float, dict[str, int]] | None = None
        self._last_outcomes: dict[str, int] = {}
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
                name, doc = topic.decode(), msgpack.unpackb(payload)
            except (ValueError, msgpack.UnpackException, UnicodeDecodeError):
                continue  # a bad snapshot is skipped, never fatal to the daemon
            if name.startswith(ALERTS):
                self.reasons.add(doc)
            else:
                self.latest[name] = doc

    def tick(self) -> None:
        doc = self._status()
        rows = self.rows(doc, time.monotonic())
        if self._live is not None:
            self._live.update(_rich_table(rows, doc), refresh=True)
        else:
            self._out.write("  ".join(f"{k} {v}" for k, v in rows) + "\n")
            self._out.flush()

    def rows(self, doc: dict[str, Any], now: float) -> list[tuple[str, str]]:
        """The summary as (label, text) pairs, rates over the interval since the last call."""
        outs = {e["name"]: int(e.get("counters", {}).get("records_out", 0))
                for e in doc.get("engines", [])}
        rates = _rates(self._last, now, outs)
        self._last = (now, outs)
        rows = [(label, rates.get(engine, "-")) for label, engine in FLOWS]
        rows.extend(self._outcomes(doc, outs))
        rows.append(("rejected by reason", self.reasons.take()))
        pos = self.latest.get("trading.positions.all", {})
        rows.append(("P&L", _money(pos.get("pnl"))))
        latency = self.latest.get("analytics.summary", {}).get("tick_to_fill_us") or {}
        rows.append(("tick-to-fill p50/p99",
                     f"{_us(latency.get('p50_us'))} / {_us(latency.get('p99_us'))}"))
        rows.append(("engines", compact_states(doc.get("engines", []))))
        return rows

    def _outcomes(self, doc: dict[str, Any], outs: dict[str, int]) -> list[tuple[str, str]]:
        """accepted, rejected, stale, fills as "total (+since the last call)"."""
        totals = dict.fromkeys(OUTCOMES, 0)
        for e in doc.get("engines", []):
            for name, value in (e.get("named_counters") or {}).items():
                if name in totals:
                    totals[name] += int(value)
        if not any("fills" in (e.get("named_counters") or {})
                   for e in doc.get("engines", [])):
            totals["fills"] = outs.get("execution", 0)  # an execution without named counters
        last, self._last_outcomes = self._last_outcomes, totals
        return [(name, _with_delta(n, n - last[name] if name in last else None))
                for name, n in totals.items()]

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


class RejectionTally:
    """Rejections by reason from risk's alerts: counted since the last `take()` and, from
    each alert's `total`, since each risk engine's spawn (summed over risk engines)."""

    def __init__(self) -> None:
        self.window: dict[str, int] = {}
        self.totals: dict[tuple[str, str], int] = {}  # (engine, reason) -> its latest total

    def add(self, alert: Any) -> None:
        """One `risk.alerts.*` message; the kill-switch ones (no count) are not rejections."""
        if not isinstance(alert, dict) or not isinstance(alert.get("count"), int):
            return
        reason, engine = str(alert.get("reason", "?")), str(alert.get("engine", "?"))
        self.window[reason] = self.window.get(reason, 0) + alert["count"]
        total = alert.get("total")
        if isinstance(total, int):
            self.totals[(engine, reason)] = max(total, self.totals.get((engine, reason), 0))

    def take(self) -> str:
        """"reason total (+window)" for every reason seen, then a new window; "-" if none."""
        totals: dict[str, int] = {}
        for (_engine, reason), n in self.totals.items():
            totals[reason] = totals.get(reason, 0) + n
        names = sorted(set(totals) | set(self.window))
        text = " ".join(f"{r} {_with_delta(totals.get(r, 0), self.window.get(r, 0))}"
                        for r in names)
        self.window = {}
        return text or "-"


def compact_states(engines: list[dict[str, Any]]) -> str:
    """"6 READY" or "5 READY, 1 BACKOFF (execution)": engines counted by state, the names
    given for every state but READY."""
    by_state: dict[str, list[str]] = {}
    for e in engines:
        by_state.setdefault(str(e.get("state", "?")), []).append(str(e.get("name", "?")))
    parts = [f"{len(names)} {state}" + ("" if state == "READY" else f" ({' '.join(names)})")
             for state, names in sorted(by_state.items(), key=lambda kv: kv[0] != "READY")]
    return ", ".join(parts) or "-"


def _with_delta(total: int, delta: int | None) -> str:
    return f"{total:,}" if delta is None else f"{total:,} (+{max(delta, 0):,})"


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
