"""fleet status: every host of the fleet in one table: its engines, rings and bridges.

No wire message of its own: `fleet` and `status` to the local daemon, then `status` to each
[[peers]] host over its CURVE control endpoint (nautilusd.ctl.remote); a host that does not
answer is shown unreachable, and the exit code is 1.
CLI:  nautilusctl fleet status [--json]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from nautilusd.ctl.local import Local
from nautilusd.ctl.remote import fleet_info, peer_client
from nautilusd.ctl.session import Session
from nautilusd.errors import NautilusdError

NAME = "fleet"


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("status",))


def _host_doc(name: str, status: dict[str, Any] | None, error: str = "") -> dict[str, Any]:
    if status is None:
        return {"host": name, "reachable": False, "error": error, "engines": [], "rings": [],
                "bridges": [], "health": "unknown"}
    engines = status.get("engines", [])
    bridges = [{"engine": e["name"], "state": e["state"],
                "link_up": bool(e.get("named_counters", {}).get("link_up")),
                **{k: v for k, v in e.get("named_counters", {}).items() if k != "link_up"}}
               for e in engines if "link_up" in e.get("named_counters", {})]
    return {"host": name, "reachable": True, "health": status.get("health", {}).get("status"),
            "engines": [{"name": e["name"], "state": e["state"], "pid": e.get("pid")}
                        for e in engines],
            "rings": [{"name": r.get("name"), "cursor": r.get("cursor")}
                      for r in status.get("rings", [])],
            "bridges": bridges}


def collect(session: Session) -> list[dict[str, Any]]:
    local = session.control()
    info = fleet_info(local)
    hosts = [_host_doc(info.get("host") or "local", local.request("status"))]
    for peer in info.get("peers", []):
        try:
            with peer_client(info, peer["name"], min(session.timeout_ms, 3000)) as client:
                hosts.append(_host_doc(peer["name"], client.request("status")))
        except NautilusdError as exc:
            hosts.append(_host_doc(peer["name"], None, str(exc)))
    return hosts


def render(hosts: list[dict[str, Any]]) -> str:
    lines = [f"{'HOST':<10} {'KIND':<7} {'NAME':<20} {'STATE':<10} DETAIL"]
    for h in hosts:
        if not h["reachable"]:
            lines.append(f"{h['host']:<10} {'host':<7} {'-':<20} {'UNREACHABLE':<10} "
                         f"{h['error']}")
            continue
        lines.append(f"{h['host']:<10} {'host':<7} {'-':<20} {h['health']!s:<10}")
        for e in h["engines"]:
            lines.append(f"{h['host']:<10} {'engine':<7} {e['name']:<20} {e['state']:<10} "
                         f"pid {e['pid']}")
        for r in h["rings"]:
            lines.append(f"{h['host']:<10} {'ring':<7} {r['name']:<20} {'':<10} "
                         f"cursor {r['cursor']}")
        for b in h["bridges"]:
            link = "up" if b["link_up"] else "DOWN"
            rest = " ".join(f"{k}={v}" for k, v in b.items()
                            if k not in ("engine", "state", "link_up"))
            lines.append(f"{h['host']:<10} {'bridge':<7} {b['engine']:<20} {b['state']:<10} "
                         f"link {link} {rest}")
    return "\n".join(lines)


def main(args: argparse.Namespace, session: Session) -> int:
    hosts = collect(session)
    session.write(json.dumps({"hosts": hosts}, indent=2) if args.json else render(hosts))
    return 0 if all(h["reachable"] for h in hosts) else 1


COMMAND = Local(name=NAME, help="every fleet host's engines, rings and bridges in one table",
                arguments=arguments, main=main)
