"""Logging for nautilusd and every engine: structlog, configured once per process.

JSON lines on stdout by default; the journald native protocol under systemd (JOURNAL_STREAM
set) or when a journal socket is configured, with fields journalctl can filter on
(`journalctl ENGINE=risk`). A journal that goes away never raises into the caller.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any, TextIO, cast

import structlog
from structlog.typing import FilteringBoundLogger

from engines._journal import (
    DEFAULT_JOURNAL_SOCKET,
    JournalSink,
    encode_entry,
    field_name,
    socket_path_from_env,
)

FORMATS = ("auto", "json", "console", "journald")
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR, "critical": logging.CRITICAL}
# syslog priorities journald expects in PRIORITY=, by structlog method/level name
PRIORITIES = {"critical": 2, "exception": 3, "error": 3, "warning": 4, "warn": 4,
              "notice": 5, "info": 6, "msg": 6, "debug": 7}
IDENTIFIER = "nautilusd"
DAEMON_ENGINE = "nautilusd"  # ENGINE= of the daemon's own records
MESSAGE_VALUE_MAX = 200  # characters of one value shown in MESSAGE
# Keys that become fixed fields (or are dropped: journald stamps its own time). A record's
# own "pid" (e.g. the engine a daemon record is about) stays: PID=; the logger's is ENGINE_PID.
_OWN_KEYS = frozenset({"event", "level", "timestamp", "instance", "engine"})
_FIXED_FIELDS = frozenset({"MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "ENGINE", "ENGINE_PID",
                           "EVENT", "INSTANCE"})


class LogConfigError(ValueError):
    """configure_logging got a format or level it does not know; names the value."""


class LogState:
    """What configure_logging chose, and the journal sink's counters (for metrics)."""

    format: str = "json"
    sink: JournalSink | None = None
    fallbacks: int = 0


STATE = LogState()


def configure_logging(
    fmt: str = "auto", level: str = "info", *, instance: str = "default",
    engine: str | None = None, identifier: str = IDENTIFIER, journal_socket: str | None = None,
    stream: TextIO | None = None,
) -> None:
    """Configure structlog for this process (call again after fork to change `engine`).

    `fmt`: auto | json | console | journald. "auto" picks journald when JOURNAL_STREAM is set
    (we run under systemd) or a journal socket is configured (`journal_socket` or
    $NAUTILUSD_JOURNAL_SOCKET), else JSON. `stream` defaults to the current sys.stdout.
    """
    if fmt not in FORMATS:
        raise LogConfigError(f"log format {fmt!r} is not one of {', '.join(FORMATS)}")
    if level not in LEVELS:
        raise LogConfigError(f"log level {level!r} is not one of {', '.join(LEVELS)}")
    chosen = resolve_format(fmt, journal_socket)
    out = stream or sys.stdout
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _add_fixed(instance, engine, add_pid=chosen != "journald"),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    if STATE.sink is not None:
        STATE.sink.close()
        STATE.sink = None
    if chosen == "journald":
        path = socket_path_from_env(journal_socket) or DEFAULT_JOURNAL_SOCKET
        STATE.sink = JournalSink(path)
        processors.append(_to_logger_args)
        factory: Any = JournaldLoggerFactory(STATE.sink, identifier, out)
    else:
        processors.append(structlog.processors.TimeStamper(fmt="iso", utc=True))
        processors.append(_console_renderer(out) if chosen == "console" else _json_dumps)
        factory = structlog.WriteLoggerFactory(file=out)
    STATE.format = chosen
    structlog.configure(
        processors=processors, logger_factory=factory, cache_logger_on_first_use=False,
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
    )


def resolve_format(fmt: str, journal_socket: str | None = None) -> str:
    """The concrete format "auto" stands for in this environment."""
    if fmt != "auto":
        return fmt
    if os.environ.get("JOURNAL_STREAM") or socket_path_from_env(journal_socket):
        return "journald"
    return "json"


def get_logger(**bind: object) -> FilteringBoundLogger:
    """A structlog logger with `bind` bound (e.g. `get_logger(component="control")`), of the
    filtering class configure_logging installs."""
    return cast(FilteringBoundLogger, structlog.get_logger(**bind))


def log_stats() -> dict[str, Any]:
    """The active format and journal counters: sent, sent_memfd, failed, fallbacks."""
    counts = STATE.sink.stats() if STATE.sink else {"sent": 0, "sent_memfd": 0, "failed": 0}
    return {"format": STATE.format, **counts, "fallbacks": STATE.fallbacks}


def journal_fields(
    event_dict: MutableMapping[str, Any], identifier: str = IDENTIFIER,
) -> list[tuple[str, str | bytes]]:
    """The journald fields of one record: the fixed ones, then the record's own keys."""
    event = str(event_dict.get("event", ""))
    fields: list[tuple[str, str | bytes]] = [
        ("MESSAGE", _message(event, event_dict)),
        ("PRIORITY", str(PRIORITIES.get(str(event_dict.get("level", "info")), 6))),
        ("SYSLOG_IDENTIFIER", identifier),
        ("ENGINE", str(event_dict.get("engine") or DAEMON_ENGINE)),
        ("ENGINE_PID", str(os.getpid())),
        ("EVENT", event),
        ("INSTANCE", str(event_dict.get("instance", "default"))),
    ]
    for key, value in event_dict.items():
        if key in _OWN_KEYS:
            continue
        name = field_name(key)
        if name in _FIXED_FIELDS:
            name = field_name("KEY_" + name)  # a record key never overwrites a fixed field
        fields.append((name, value if isinstance(value, bytes) else str(value)))
    return fields


def _message(event: str, event_dict: MutableMapping[str, Any]) -> str:
    # MESSAGE is for people; a long value is shortened here and kept whole in its own field.
    extra = [f"{k}={_short(v)}" for k, v in event_dict.items()
             if k not in _OWN_KEYS and k not in ("exception", "stack")]
    text = " ".join([event, *extra])
    for long_key in ("exception", "stack"):
        if long_key in event_dict:
            text += "\n" + str(event_dict[long_key])
    return text


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MESSAGE_VALUE_MAX else text[:MESSAGE_VALUE_MAX] + "..."


def _add_fixed(instance: str, engine: str | None, add_pid: bool) -> Callable[..., Any]:
    def add(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
        event_dict.setdefault("instance", instance)
        if engine is not None:
            event_dict.setdefault("engine", engine)
        if add_pid:
            event_dict.setdefault("pid", os.getpid())
        return event_dict
    return add


def _json_dumps(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> str:
    return json.dumps(event_dict, default=str, separators=(",", ":"))


def _console_renderer(out: TextIO) -> Any:
    return structlog.dev.ConsoleRenderer(colors=out.isatty())


def _to_logger_args(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    return ((event_dict,), {})


class JournaldLogger:
    """The structlog logger of the journald format: one datagram per record, stdout fallback."""

    def __init__(self, sink: JournalSink, identifier: str, fallback: TextIO) -> None:
        self._sink = sink
        self._identifier = identifier
        self._fallback = fallback

    def msg(self, event_dict: MutableMapping[str, Any]) -> None:
        payload = encode_entry(journal_fields(event_dict, self._identifier))
        if self._sink.send(payload):
            return
        STATE.fallbacks += 1
        event_dict.setdefault("timestamp", datetime.now(UTC).isoformat())
        event_dict.setdefault("pid", os.getpid())
        try:
            self._fallback.write(_json_dumps(None, "", event_dict) + "\n")
            self._fallback.flush()
        except (OSError, ValueError):
            pass  # stdout is gone too: the record is lost, and counted above

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


class JournaldLoggerFactory:
    def __init__(self, sink: JournalSink, identifier: str, fallback: TextIO) -> None:
        self._logger = JournaldLogger(sink, identifier, fallback)

    def __call__(self, *args: Any) -> JournaldLogger:
        return self._logger
