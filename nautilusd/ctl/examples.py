"""One worked example per nautilusctl subcommand, shown at the end of its --help.

Keyed by subcommand name; the parser test requires an entry for every subcommand.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

EXAMPLES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType({
    "status": ("nautilusctl status", "nautilusctl status risk execution --json"),
    "start": ("nautilusctl start risk", "nautilusctl start critical"),
    "stop": ("nautilusctl stop strategy", "nautilusctl stop all"),
    "restart": ("nautilusctl restart risk",),
    "reload": ("nautilusctl reload", "nautilusctl reload /etc/nautilusd/default.toml"),
    "scale": ("nautilusctl scale strategy 3",),
    "pin": ("nautilusctl pin risk 2", "nautilusctl pin strategy 0-1"),
    "rings": ("nautilusctl rings", "nautilusctl rings --json | jq '.rings[].rate_per_s'"),
    "health": ("nautilusctl health || journalctl -u nautilusd -n 50",),
    "shutdown": ("nautilusctl shutdown",),
    "upgrade": ("nautilusctl upgrade --dry-run", "nautilusctl upgrade risk",
                "nautilusctl upgrade all --json | jq .upgrade.upgraded"),
    "reexec": ("nautilusctl reexec", "nautilusctl reexec --json | jq .reexecs"),
    "logs": ("nautilusctl logs risk -n 50", "nautilusctl logs risk --since 10m",
             "nautilusctl logs risk -f --json | jq .event"),
    "top": ("nautilusctl top", "nautilusctl top --once --json"),
    "events": ("nautilusctl events system.engine. --count 5",),
    "check": ("nautilusctl check /etc/nautilusd/default.toml",),
    "bench": ("nautilusctl bench rings --quick",),
    "chaos": ("nautilusctl chaos --duration 60 --seed 7",
              "nautilusctl chaos --duration 60 --kills 20 --seed 1 --venue fix --json"),
    "orders": ("nautilusctl orders --open", "nautilusctl orders --json | jq '.orders[].state'"),
    "call": ("nautilusctl call risk risk.status",
             "nautilusctl call risk risk.kill_switch engage=no",
             "nautilusctl call execution cancel order_id=1099511627777"),
    "journal": ("nautilusctl journal --since 2026-12-07T08:00:00Z",
                "nautilusctl journal export --parquet fills.parquet"),
    "backtest": ("nautilusctl backtest --data ticks.parquet --config configs/default.toml "
                 "--out bt/",
                 "nautilusctl backtest --data ticks.parquet --out sweep/ "
                 "--sweep strategy.threshold_bps=1,2,3 --workers 2"),
    "keys": ("nautilusctl keys generate --config /etc/nautilusd/a.toml",
             "nautilusctl keys show --state-dir /var/lib/nautilusd/default --json"),
    "fleet": ("nautilusctl fleet status", "nautilusctl fleet status --json"),
    "research": ("nautilusctl research train --data ticks.parquet --state-dir "
                 "/var/lib/nautilusd",
                 "nautilusctl research train --data ticks.parquet --state-dir st --activate"),
    "completion": ("source <(nautilusctl completion bash)",
                   "nautilusctl completion zsh > \"${fpath[1]}/_nautilusctl\""),
})


def epilog(name: str) -> str:
    """The `examples:` block of a subcommand's --help ("" when it has none)."""
    lines = EXAMPLES.get(name, ())
    return "examples:\n" + "\n".join(f"  {line}" for line in lines) if lines else ""
