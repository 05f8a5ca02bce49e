"""Where this daemon's log records go, written down for `nautilusctl logs`: journald, or a file
(the runtime dir's log under `make run`, supervisord's stdout_logfile, a redirected stdout).

The daemon records its sink in `<runtime_dir>/log-sink.json` at start; the client reads it,
so `logs` finds the records whichever way the daemon was started, also after it stopped.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SINK_FILE = "log-sink.json"


def discover(log_format: str, env: Mapping[str, str] | None = None,
             stdout_fd: int = 1) -> dict[str, Any]:
    """The sink of a daemon logging as `log_format` (journald | json | console)."""
    if log_format == "journald":
        return {"kind": "journald"}
    path = _regular_file(stdout_fd)
    if path is not None:
        return {"kind": "file", "path": path, "format": log_format}
    found = _supervisord_logfile(os.environ if env is None else env)
    if found is not None:
        return {"kind": "file", "path": found, "format": log_format, "via": "supervisord"}
    return {"kind": "stdout", "format": log_format}


def record(runtime_dir: Path, sink: Mapping[str, Any]) -> None:
    """Write the sink next to the control socket (0600, replaced atomically)."""
    tmp = runtime_dir / f".{SINK_FILE}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(dict(sink), f)
    os.replace(tmp, runtime_dir / SINK_FILE)


def read(runtime_dir: Path) -> dict[str, Any] | None:
    """The recorded sink, or None when no daemon has recorded one here."""
    try:
        doc = json.loads((runtime_dir / SINK_FILE).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _regular_file(fd: int) -> str | None:
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        pass
    return None


def _supervisord_logfile(env: Mapping[str, str]) -> str | None:
    """Our program's stdout_logfile, asked of the supervisord that runs us (XML-RPC)."""
    url, name = env.get("SUPERVISOR_SERVER_URL"), env.get("SUPERVISOR_PROCESS_NAME")
    if not env.get("SUPERVISOR_ENABLED") or not url or not name:
        return None
    from xmlrpc.client import ServerProxy

    from supervisor.xmlrpc import SupervisorTransport

    transport = SupervisorTransport(None, None, url)
    try:
        proxy = ServerProxy("http://127.0.0.1", transport=transport)
        info = proxy.supervisor.getProcessInfo(env.get("SUPERVISOR_GROUP_NAME", name) + ":"
                                               + name)
    except Exception:  # an unreachable supervisord costs the hint, never the daemon's start
        return None
    path = info.get("stdout_logfile") if isinstance(info, dict) else None
    return path if isinstance(path, str) and path else None
