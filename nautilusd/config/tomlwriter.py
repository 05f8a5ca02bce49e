"""TOML text for generated topologies (chaos runs, tests): values written, never parsed here.

tomllib reads TOML but the stdlib has no writer; topologies only need scalars, lists and
inline tables, so this small writer beats another dependency.
"""

from __future__ import annotations

import enum
import json
from typing import Any

from nautilusd.config._convert import enum_text


def toml_value(value: Any) -> str:
    """`value` as a TOML literal: booleans, numbers, strings, lists, inline tables, and enum
    members as the config spells them (`Policy.BLOCK` is "block")."""
    if isinstance(value, enum.Enum):  # before int: a Policy is an IntEnum
        return toml_value(enum_text(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def toml_document(doc: dict[str, Any]) -> str:
    """Top-level scalars, then [section] and [section.name] tables (all a topology uses)."""
    lines = [f"{k} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for section, body in doc.items():
        if not isinstance(body, dict):
            continue
        if body and all(isinstance(v, dict) for v in body.values()):
            for name, table in body.items():
                lines.append(f"\n[{section}.{name}]")
                lines += [f"{k} = {toml_value(v)}" for k, v in table.items()]
        else:
            lines.append(f"\n[{section}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in body.items()]
    return "\n".join(lines) + "\n"
