"""Typed reading of an engine's free-form `params` table, and the error naming a bad one.

Engines turn `ctx.params` into frozen dataclasses once at start; a wrong key or value fails
there with the engine, key and value in the message, never later on the hot path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from engines.errors import EngineError

T = TypeVar("T")


class ParamError(EngineError, ValueError):
    """An engine parameter is unknown or has a bad value; the message names both."""


def parse_params(cls: type[T], params: Mapping[str, Any], where: str) -> T:
    """`cls(**params)` for a frozen dataclass, rejecting unknown keys and bad types."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise ParamError(f"{where}: unknown param(s) {unknown}; known: {sorted(fields)}")
    values: dict[str, Any] = {}
    for key, raw in params.items():
        default = fields[key].default
        values[key] = _coerce(raw, default, f"{where}.{key}")
    return cls(**values)


def _coerce(raw: Any, default: Any, where: str) -> Any:
    if default is dataclasses.MISSING or default is None:
        return raw
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
    elif isinstance(default, float):
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return float(raw)
    elif isinstance(default, int):
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
    elif isinstance(default, str):
        if isinstance(raw, str):
            return raw
    else:
        return raw
    raise ParamError(f"{where}: expected {type(default).__name__}, got {raw!r}")
