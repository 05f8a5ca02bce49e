"""The daemon's logging entry points: the same configuration engines use (engines.log).

nautilusd calls `configure_logging` once at start with [supervisor].log_format/log_level.
"""

from __future__ import annotations

from engines.log import (
    FORMATS,
    LEVELS,
    LogConfigError,
    configure_logging,
    get_logger,
    journal_fields,
    log_stats,
    resolve_format,
)

__all__ = [
    "FORMATS",
    "LEVELS",
    "LogConfigError",
    "configure_logging",
    "get_logger",
    "journal_fields",
    "log_stats",
    "resolve_format",
]
