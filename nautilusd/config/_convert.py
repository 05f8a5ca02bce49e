"""Value converters for config loading: TOML values in, typed values or a recorded error out.

Every converter names the key path and the bad value, and never raises: the loader
collects all errors of a file before it reports them.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from engines import did_you_mean

INVALID: Final = object()  # a converter's "no value": the error is already recorded
Converter = Callable[["Collector", str, Any], Any]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_MAX_VALUE_REPR = 80


class Collector:
    """Collects (key_path, message) pairs; each message starts with the file name."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[tuple[str, str]] = []

    def error(self, path: str, message: str) -> None:
        path = one_line(path)
        where = f"{self.source}: {path}" if path else self.source
        self.errors.append((path, one_line(f"{where}: {message}")))

    def wrong_type(self, path: str, expected: str, value: Any) -> object:
        self.error(path, f"expected {expected}, found {type_name(value)}: {show(value)}")
        return INVALID


def one_line(text: str) -> str:
    """`text` with every unprintable character escaped: one error is always one line."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def key_path(parent: str, key: str) -> str:
    """`parent.key`, quoting keys that are not TOML bare keys (so the path reads back)."""
    part = key if _BARE_KEY.match(key) else '"' + key.replace('"', '\\"') + '"'
    return f"{parent}.{part}" if parent else part


def show(value: Any) -> str:
    """repr(value), cut short so a hostile file cannot flood the terminal."""
    text = repr(value)
    return text if len(text) <= _MAX_VALUE_REPR else text[: _MAX_VALUE_REPR - 3] + "..."


def type_name(value: Any) -> str:
    """The TOML name of a parsed value's type."""
    names = [(bool, "boolean"), (int, "integer"), (float, "float"), (str, "string"),
             (list, "array"), (dict, "table")]
    for kind, name in names:
        if isinstance(value, kind):
            return name
    return type(value).__name__


@dataclass(frozen=True, slots=True)
class Field:
    """One allowed key of a table: its converter and the dataclass field it fills."""

    converter: Converter
    field: str | None = None  # None: same as the key


def table(c: Collector, path: str, value: Any, spec: Mapping[str, Field]) -> dict[str, Any]:
    """Convert a table by `spec`: unknown keys and bad values are recorded, not raised."""
    if not isinstance(value, dict):
        c.wrong_type(path, "table", value)
        return {}
    out: dict[str, Any] = {}
    for key, raw in value.items():
        sub = key_path(path, key)
        spec_field = spec.get(key)
        if spec_field is None:
            c.error(sub, f"unknown key: {key!r}{did_you_mean(key, spec)} "
                    f"(allowed keys: {', '.join(spec)})")
            continue
        converted = spec_field.converter(c, sub, raw)
        if converted is not INVALID:
            out[spec_field.field or key] = converted
    return out


def string(pattern: str | None = None, what: str = "a string") -> Converter:
    compiled = re.compile(pattern) if pattern else None

    def convert(c: Collector, path: str, value: Any) -> Any:
        if not isinstance(value, str):
            return c.wrong_type(path, "string", value)
        if compiled is not None and not compiled.fullmatch(value):
            c.error(path, f"not {what}: {show(value)}")
            return INVALID
        return value

    return convert


def boolean(c: Collector, path: str, value: Any) -> Any:
    return value if isinstance(value, bool) else c.wrong_type(path, "boolean", value)


def integer(low: int | None = None, high: int | None = None) -> Converter:
    def convert(c: Collector, path: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            return c.wrong_type(path, "integer", value)
        if (low is not None and value < low) or (high is not None and value > high):
            c.error(path, f"out of range: {show(value)} (expected {_range(low, high)})")
            return INVALID
        return value

    return convert


def number(low: float, high: float = math.inf, *, low_open: bool = False) -> Converter:
    """A finite float (integers accepted) in [low, high] (or (low, high] when low_open)."""

    def convert(c: Collector, path: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return c.wrong_type(path, "number", value)
        below = value <= low if low_open else value < low
        if not math.isfinite(value) or below or value > high:
            bracket = "(" if low_open else "["
            c.error(path, f"out of range: {show(value)} (expected {bracket}{low}, {high}])")
            return INVALID
        return float(value)

    return convert


def _range(low: int | None, high: int | None) -> str:
    if high is None:
        return f">= {low}"
    if low is None:
        return f"<= {high}"
    return f"{low}..{high}"


def enum_text(member: enum.Enum) -> str:
    """How a config file spells `member`: its value when that is text ("on-failure",
    "busy_spin"), else its name in lower case (a ring policy, whose value is a header code)."""
    return member.value if isinstance(member.value, str) else member.name.lower()


def choice(cls: type[enum.Enum], label: str) -> Converter:
    """An enum member given by its text (`enum_text`), e.g. restart = "on-failure"."""
    members = {enum_text(member): member for member in cls}

    def convert(c: Collector, path: str, value: Any) -> Any:
        if not isinstance(value, str):
            return c.wrong_type(path, "string", value)
        if value not in members:
            c.error(path, f"not a valid {label}: {show(value)} "
                          f"(expected one of: {', '.join(members)})")
            return INVALID
        return members[value]

    return convert


def one_of(values: tuple[str, ...], label: str) -> Converter:
    def convert(c: Collector, path: str, value: Any) -> Any:
        if not isinstance(value, str):
            return c.wrong_type(path, "string", value)
        if value not in values:
            c.error(path, f"not a valid {label}: {show(value)} "
                          f"(expected one of: {', '.join(values)})")
            return INVALID
        return value

    return convert


def path_value(c: Collector, path: str, value: Any) -> Any:
    if not isinstance(value, str):
        return c.wrong_type(path, "string (a path)", value)
    if not value or "\x00" in value:
        c.error(path, f"not a valid path: {show(value)}")
        return INVALID
    return Path(value)


def array(item: Converter, *, distinct: bool = False, non_empty: bool = False) -> Converter:
    """A list converted item by item (paths `key[i]`) into a tuple."""

    def convert(c: Collector, path: str, value: Any) -> Any:
        if not isinstance(value, list):
            return c.wrong_type(path, "array", value)
        if non_empty and not value:
            c.error(path, "must not be empty: []")
            return INVALID
        before = len(c.errors)
        items = tuple(item(c, f"{path}[{i}]", v) for i, v in enumerate(value))
        if len(c.errors) > before:
            return INVALID
        if distinct:
            for i, v in enumerate(items):
                if v in items[:i]:
                    c.error(f"{path}[{i}]", f"duplicate value: {show(v)}")
                    return INVALID
        return items

    return convert


def string_map(c: Collector, path: str, value: Any) -> Any:
    """A table of strings (environment variables)."""
    if not isinstance(value, dict):
        return c.wrong_type(path, "table", value)
    before = len(c.errors)
    for key, item in value.items():
        if not isinstance(item, str):
            c.wrong_type(key_path(path, key), "string", item)
        elif not key or "=" in key or "\x00" in key + item:
            c.error(key_path(path, key), f"not a valid environment variable: {show(key)}")
    return INVALID if len(c.errors) > before else MappingProxyType(dict(value))


def frozen_table(c: Collector, path: str, value: Any) -> Any:
    """Any table, made read-only all the way down (tables -> mappingproxy, arrays -> tuple)."""
    if not isinstance(value, dict):
        return c.wrong_type(path, "table", value)
    return freeze(value)


def freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value
