"""Argument checks shared by the control commands: each names the argument and the bad value.

A failed check raises ControlError(BAD_ARGS), which the server sends back as the reply.
"""

from __future__ import annotations

from typing import Any

from nautilusd.control.protocol import ErrorCode, command_error
from nautilusd.errors import ControlError


def bad_args(cmd: str, message: str) -> ControlError:
    return command_error(ErrorCode.BAD_ARGS, f"{cmd}: {message}")


def target(cmd: str, args: dict[str, Any]) -> str:
    """The `target` argument: an engine instance, a group or "all"."""
    value = args.get("target")
    if not isinstance(value, str) or not value:
        raise bad_args(cmd, f"'target' must be an engine, group or 'all', got {value!r}")
    return value


def string(cmd: str, args: dict[str, Any], key: str) -> str:
    value = args.get(key)
    if not isinstance(value, str) or not value:
        raise bad_args(cmd, f"{key!r} must be a non-empty string, got {value!r}")
    return value


def integer(cmd: str, args: dict[str, Any], key: str, low: int, high: int) -> int:
    value = args.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise bad_args(cmd, f"{key!r} must be an integer in [{low}, {high}], got {value!r}")
    return value


def cpu_list(cmd: str, args: dict[str, Any], key: str) -> list[int]:
    """A non-empty list of distinct non-negative core numbers."""
    value = args.get(key)
    ok = isinstance(value, list | tuple) and value and all(
        isinstance(c, int) and not isinstance(c, bool) and 0 <= c < 4096 for c in value)
    if not ok or len(set(value)) != len(value):  # type: ignore[arg-type]
        raise bad_args(cmd, f"{key!r} must be a list of distinct core numbers, got {value!r}")
    return sorted(value)  # type: ignore[arg-type]


def no_args(cmd: str, args: dict[str, Any], allowed: tuple[str, ...] = ()) -> None:
    """Reject unknown argument names so a typo is an error, not a silent default."""
    unknown = sorted(k for k in args if k not in allowed)
    if unknown:
        raise bad_args(cmd, f"unknown argument(s) {unknown}; accepted: {list(allowed)}")
