"""reload: re-read a config and apply the difference; an invalid config changes nothing.

Wire: {"cmd": "reload", "args": {"config": "/etc/nautilusd/prod.toml"}, "id": 1}
      -> {"ok": true, "result": {"added": [], "changed": ["risk"], "removed": []}, "id": 1}
      (no "config": the file the daemon was started with; a bad file ->
      {"ok": false, "error": {"code": "CONFIG_INVALID", "message": "<file>: <key>: ..."}})
CLI:  nautilusctl reload [CONFIG] [--json]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nautilusd.control.commands import _args
from nautilusd.control.commands.context import CommandContext
from nautilusd.control.protocol import ErrorCode, command_error
from nautilusd.errors import ConfigError

NAME = "reload"


def run(ctx: CommandContext, args: dict[str, Any]) -> dict[str, Any]:
    _args.no_args(NAME, args, ("config",))
    if args.get("config") is None:
        path = Path(ctx.supervisor.topology.source)
    else:
        path = Path(_args.string(NAME, args, "config"))
    if not path.is_absolute():
        raise _args.bad_args(NAME, f"'config' must be an absolute path, got {str(path)!r}")
    from nautilusd.config.load import load_config  # the config loader is only needed here

    try:
        topology = load_config(path)
    except ConfigError as exc:
        raise command_error(ErrorCode.CONFIG_INVALID, str(exc)) from exc
    except OSError as exc:
        raise command_error(ErrorCode.CONFIG_INVALID, f"cannot read {path}: {exc}") from exc
    diff = ctx.supervisor.reload(topology)
    return {key: list(diff.get(key, [])) for key in ("added", "changed", "removed")}
