"""What a control command can reach: the supervisor (interface 5), the loop and the server.

Built once by the ControlServer and handed to every command; `memo` keeps small per-command
state between requests (the rings command's last sample, for rates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(slots=True)
class CommandContext:
    supervisor: Any  # nautilusd.supervisor.Supervisor (interface 5)
    loop: Any  # nautilusd.loop.EventLoop (interface 4)
    runtime_dir: Path | None = None
    endpoints: dict[str, str] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)
    server_stats: Any = None  # a callable returning the control server's counters
