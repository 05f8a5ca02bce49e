"""reload: re-read a config and apply the difference; an invalid config changes nothing.

Wire: {"cmd": "reload", "args": {"config": "/etc/nautilusd/prod.toml"}, "id": 1}
      -> {"ok": true, "result": {"added": [], "changed": ["risk"], "removed": [],
          "rings_added": [], "rings_removed": [], "rings_changed": []}, "id": 1}
      (a ring added, removed or changed restarts the engines that write or read it: they
      are in "changed", and start again once the ring is ready)
      (no "config": the file the daemon was started with; a bad file ->
      {"ok": false, "error": {"code": "CONFIG_INVALID", "message": "<file>: <key>: ..."}})
CLI:  nautilusctl reload [CONFIG] [--json]      (CONFIG is sent as an absolute path)
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nautilusd.control.commands import _args, text
from nautilusd.control.commands.context import CommandContext, TopologyT
from nautilusd.control.commands.spec import Command, Remote
from nautilusd.control.protocol import ErrorCode, command_error
from nautilusd.errors import ConfigError

NAME = "reload"
DIFF_KEYS = ("added", "changed", "removed", "rings_added", "rings_removed", "rings_changed")


def run(ctx: CommandContext[TopologyT], args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args, ("config",))
    if args.get("config") is None:
        path = Path(ctx.supervisor.topology.source)
    else:
        path = Path(_args.string(NAME, args, "config"))
    if not path.is_absolute():
        raise _args.bad_args(NAME, f"'config' must be an absolute path, got {str(path)!r}")
    try:
        topology = ctx.load_topology(path)
    except ConfigError as exc:
        raise command_error(ErrorCode.CONFIG_INVALID, str(exc)) from exc
    except OSError as exc:
        raise command_error(ErrorCode.CONFIG_INVALID, f"cannot read {path}: {exc}") from exc
    diff = ctx.supervisor.reload(topology)
    return {key: list(diff.get(key, [])) for key in DIFF_KEYS}


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="the file to apply (default: the daemon's)")


def request(args: argparse.Namespace) -> dict[str, Any]:
    return {"config": str(Path(args.config).resolve()) if args.config else None}


def render(args: argparse.Namespace, result: Any) -> str:
    rows = [[key, ", ".join(result[key]) or "-"] for key in DIFF_KEYS]
    return text.table(("DIFF", "ENGINES"), rows)


COMMAND = Command(name=NAME, run=run, cli=Remote(
    help="re-read the config, apply the diff", arguments=arguments, request=request,
    render=render))
