"""Engine params as part of the engine contract: a frozen dataclass per engine, each field
with its default, unit and range (`param(...)`), checked whole before anything runs.

`param_problems` lists every bad key or value of a `params` table (unknown keys get a "did
you mean"); nautilusd's check, run and reload call it through `Engine.params_spec` before an
engine restarts; `parse_params` does the same at the engine's start and builds the object.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from engines.errors import EngineError

T = TypeVar("T")
_SCALARS = (bool, int, float, str)


class ParamError(EngineError, ValueError):
    """An engine's params are unknown or out of range; `problems` names each key and value."""

    def __init__(self, problems: str | Iterable[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True, kw_only=True, slots=True)
class Bounds:
    """What a param accepts besides its type: an inclusive range, or a set of words."""

    unit: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()


def param(default: Any, *, unit: str = "", min: float | None = None,
          max: float | None = None, choices: Iterable[str] = ()) -> Any:
    """A params field: `max_order_qty: int = param(1_000, unit="units", min=1)`."""
    bounds = Bounds(unit=unit, min=min, max=max, choices=tuple(choices))
    return dataclasses.field(default=default, metadata={"param": bounds})


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """` (did you mean 'max_order_qty'?)`, or "" when nothing is close."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def param_problems(cls: type[Any], params: Mapping[str, Any], where: str) -> list[str]:
    """Every problem of `params` for the spec `cls`, each naming `where.key` and the value."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    problems = []
    for key, raw in params.items():
        field = fields.get(key)
        if field is None:
            problems.append(f"{where}.{key}: unknown param {key!r}{did_you_mean(key, fields)}"
                            f"; known: {', '.join(sorted(fields))}")
            continue
        problem = _value_problem(raw, hints[key], field.metadata.get("param", Bounds()))
        if problem:
            problems.append(f"{where}.{key}: {problem}")
    # A spec's checks across its fields (tables of tables): `param_checks(params, where)`.
    checks = getattr(cls, "param_checks", None)
    return problems + (checks(params, where) if checks is not None else [])


def parse_params(cls: type[T], params: Mapping[str, Any], where: str) -> T:
    """The spec object for `params`; raises ParamError listing every problem."""
    problems = param_problems(cls, params, where)
    if problems:
        raise ParamError(problems)
    hints = typing.get_type_hints(cls)
    values = {key: _convert(raw, hints[key]) for key, raw in params.items()}
    return cls(**values)


def describe(cls: type[Any]) -> list[dict[str, Any]]:
    """Each param of a spec: name, type, default, unit, range or choices (for `check`)."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        bounds = f.metadata.get("param", Bounds())
        out.append({"name": f.name, "type": _type_word(hints[f.name]), "default": f.default,
                    "unit": bounds.unit, "min": bounds.min, "max": bounds.max,
                    "choices": list(bounds.choices)})
    return out


def _scalar(hint: Any) -> tuple[type, bool]:
    """(bool | int | float | str, optional) of a field's annotation."""
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    optional = type(None) in args
    kinds = [a for a in args if a in _SCALARS]
    return (kinds[0] if len(kinds) == 1 else object), optional


def _type_word(hint: Any) -> str:
    kind, optional = _scalar(hint)
    word = {bool: "boolean", int: "integer", float: "number", str: "string"}.get(kind, "any")
    return f"{word} or none" if optional else word


def _value_problem(raw: Any, hint: Any, bounds: Bounds) -> str | None:
    kind, optional = _scalar(hint)
    if raw is None and optional:
        return None
    if kind is object:
        return None
    if not _is_kind(raw, kind):
        return f"expected {_type_word(hint)}, got {raw!r}"
    if bounds.choices and raw not in bounds.choices:
        return (f"not one of {', '.join(bounds.choices)}: {raw!r}"
                f"{did_you_mean(str(raw), bounds.choices)}")
    return _range_problem(raw, bounds) if kind in (int, float) else None


def _is_kind(raw: Any, kind: type) -> bool:
    if kind is bool or isinstance(raw, bool):
        return kind is bool and isinstance(raw, bool)
    if kind is float:
        return isinstance(raw, int | float)
    return isinstance(raw, kind)


def _range_problem(raw: float, bounds: Bounds) -> str | None:
    unit = f" {bounds.unit}" if bounds.unit else ""
    if raw != raw:  # NaN passes no range
        return f"not a number: {raw!r}"
    if bounds.min is not None and raw < bounds.min:
        return f"{raw!r}{unit} is below the minimum {bounds.min:g}{unit}"
    if bounds.max is not None and raw > bounds.max:
        return f"{raw!r}{unit} is above the maximum {bounds.max:g}{unit}"
    return None


def _convert(raw: Any, hint: Any) -> Any:
    kind, _ = _scalar(hint)
    return float(raw) if kind is float and raw is not None else raw


_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def truth(value: Any, key: str) -> bool:
    """A boolean argument: true/false, yes/no, on/off, 1/0 (any case); else ParamError."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    word = value.strip().lower() if isinstance(value, str) else None
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ParamError([f"{key}: not a valid boolean value: {value!r} "
                      "(expected true/false, yes/no, on/off or 1/0)"])
