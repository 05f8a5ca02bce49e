"""status: the whole status document of the daemon, its engines and its rings.

Wire: {"cmd": "status", "args": {}, "id": 1}
      -> {"ok": true, "result": {"daemon": {...}, "engines": [...], "rings": [...]}, "id": 1}
CLI:  nautilusctl status [--json]
"""

from __future__ import annotations

from typing import Any

from nautilusd.control.commands import _args
from nautilusd.control.commands.context import CommandContext

NAME = "status"


def run(ctx: CommandContext, args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args)
    doc: dict[str, Any] = ctx.supervisor.status()
    daemon = doc.setdefault("daemon", {})
    for key, endpoint in ctx.endpoints.items():
        daemon.setdefault(key, endpoint)
    daemon.setdefault("metrics_url", _metrics_url(ctx.supervisor))
    return doc


def _metrics_url(supervisor: Any) -> str | None:
    """Where Prometheus scrapes this daemon, from [supervisor].metrics_address (None: off)."""
    config = getattr(getattr(supervisor, "topology", None), "supervisor", None)
    address = getattr(config, "metrics_address", None)
    return f"http://{address}/metrics" if address else None
