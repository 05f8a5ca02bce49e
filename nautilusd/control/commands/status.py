"""status: the whole status document of the daemon, its engines and its rings.

Wire: {"cmd": "status", "args": {}, "id": 1}
      -> {"ok": true, "result": {"daemon": {...}, "engines": [...], "rings": [...]}, "id": 1}
CLI:  nautilusctl status [ENGINE...] [--json]    (ENGINE: an instance or an engine's name;
      the filter is applied by the client, an unknown name is a usage error, exit 2)
"""

from __future__ import annotations

import argparse
from typing import Any

from nautilusd.control.commands import _args, text
from nautilusd.control.commands.context import CommandContext, TopologyT
from nautilusd.control.commands.spec import Command, Remote, UsageError

NAME = "status"
ENGINE_COLUMNS = ("ENGINE", "STATE", "PID", "CPUS", "UPTIME", "RESTARTS", "LAST EXIT",
                  "HB AGE", "READY", "IN", "OUT", "ERR", "VERSION")


def run(ctx: CommandContext[TopologyT], args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args)
    doc: dict[str, Any] = ctx.supervisor.status()
    daemon = doc.setdefault("daemon", {})
    for key, endpoint in ctx.endpoints.items():
        daemon.setdefault(key, endpoint)
    daemon.setdefault("metrics_url", _metrics_url(ctx))
    return doc


def _metrics_url(ctx: CommandContext[TopologyT]) -> str | None:
    """Where Prometheus scrapes this daemon, from [supervisor].metrics_address (None: off)."""
    address = ctx.supervisor.topology.supervisor.metrics_address
    return f"http://{address}/metrics" if address else None


def engine_rows(doc: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for e in doc.get("engines", []):
        counters = e.get("counters") or {}
        rows.append([e.get("name"), e.get("state"), e.get("pid") or "-",
                     text.cpus_text(e.get("cpus") or []), text.duration(e.get("uptime_s")),
                     e.get("restarts", 0), text.exit_text(e.get("last_exit")),
                     text.milliseconds(e.get("heartbeat_age_ms")),
                     "yes" if e.get("ready") else "no", counters.get("records_in", 0),
                     counters.get("records_out", 0), counters.get("errors", 0),
                     e.get("version") or "-"])
    return rows


def status_text(doc: dict[str, Any]) -> str:
    d = doc.get("daemon", {})
    head = (f"nautilusd {d.get('instance', '?')}  pid {d.get('pid', '?')}  "
            f"version {d.get('version') or '?'}  "
            f"up {text.duration(d.get('uptime_s'))}  health {d.get('health', '?')}  "
            f"engines {d.get('engines_ready', '?')}/{d.get('engines_total', '?')} ready")
    if d.get("resuming"):  # the early control of a re-executed image (control.early)
        head += (f"\n(re-executing: the earlier image's status, "
                 f"{text.milliseconds(d.get('snapshot_age_ms'))} old)")
    return head + "\n\n" + text.table(ENGINE_COLUMNS, engine_rows(doc)) + counter_lines(doc)


def counter_lines(doc: dict[str, Any]) -> str:
    """One line per engine with named counters: `risk  rejected=3 kill_switch_engaged=0`."""
    lines = [f"  {e.get('name')}  " + " ".join(f"{k}={v}" for k, v in named.items())
             for e in doc.get("engines", []) if (named := e.get("named_counters"))]
    return "\n\ncounters\n" + "\n".join(lines) if lines else ""


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("engines", nargs="*", metavar="ENGINE",
                        help="show only these engines (an instance or an engine name)")


def select(args: argparse.Namespace, doc: Any) -> Any:
    """The document with only the engines named on the command line (all when none)."""
    wanted: list[str] = args.engines
    if not wanted:
        return doc
    engines = doc.get("engines", [])
    known = {e.get("name") for e in engines} | {e.get("engine") for e in engines}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise UsageError(f"status: unknown engine(s) {', '.join(map(repr, unknown))}; known: "
                         f"{', '.join(sorted(str(n) for n in known if n))}")
    return {**doc, "engines": [e for e in engines
                               if e.get("name") in wanted or e.get("engine") in wanted]}


def render(args: argparse.Namespace, result: Any) -> str:
    return status_text(result)


COMMAND = Command(name=NAME, run=run, read_only=True, cli=Remote(
    help="engines, states, pids, cores, uptime, restarts, heartbeats", arguments=arguments,
    select=select, render=render))
