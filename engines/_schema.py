"""The record schema as C: engines/_schema.h, generated from shm/layout.py for the kernels.

setup.py regenerates the header before it compiles them; the committed copy is checked
against the layouts by a unit test. Per record it defines the size, each field's offset and
C type, and a table the kernels export as SCHEMA; with the layout's integer constants (sides,
verdicts, reasons...) as a second table, CONSTANTS. The loader (engines.compiled) compares
both with shm.layout and refuses an extension built for another schema.
`python -m engines._schema [--check]` writes (or checks) the header.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

HEADER = Path(__file__).with_name("_schema.h")
_C_TYPES = {"u1": "uint8_t", "i1": "int8_t", "u2": "uint16_t", "i2": "int16_t",
            "u4": "uint32_t", "i4": "int32_t", "u8": "uint64_t", "i8": "int64_t",
            "f4": "float", "f8": "double"}

_PREAMBLE = """\
/* GENERATED from shm/layout.py by engines/_schema.py: do not edit (setup.py regenerates it).
 *
 * Per record R and field F: R_SIZE, R_F_OFF (byte offset), R_F_T (C type, scalar fields),
 * and R_SCHEMA, the table a kernel exports as SCHEMA for the loader to check; the layout's
 * integer constants as macros and as LAYOUT_CONSTANTS (exported as CONSTANTS).
 */
#ifndef NAUTILUSD_SCHEMA_H
#define NAUTILUSD_SCHEMA_H

#include <stdint.h>

typedef struct {
    const char *name;
    long offset, size;
    const char *type; /* numpy type string of the field (of one item for a subarray) */
} schema_field;

typedef struct {
    const char *name;
    long long value;
} schema_const;

/* GETF(TICK, buf, BID): field BID of the TICK at `buf`; PUTF stores one. */
#define GETF(rec, buf, f) (*(const rec##_##f##_T *)((const char *)(buf) + rec##_##f##_OFF))
#define PUTF(rec, buf, f, v) (*(rec##_##f##_T *)((char *)(buf) + rec##_##f##_OFF) = (v))
"""


def _fields(dtype: np.dtype[Any]) -> list[tuple[str, int, np.dtype[Any]]]:
    if dtype.fields is None:
        raise ValueError(f"{dtype} is not a structured record layout")
    return sorted(((n, int(f[1]), f[0]) for n, f in dtype.fields.items()), key=lambda f: f[1])


def type_string(fd: np.dtype[Any]) -> str:
    """A field's numpy type string, of one item for a subarray ('<u8' for ('<u8', (2,)))."""
    return str((fd.subdtype[0] if fd.subdtype is not None else fd).str)


def _record(name: str, dtype: np.dtype[Any]) -> list[str]:
    rec = name.upper()
    lines = [f"/* {name}: {dtype.itemsize} bytes */", f"#define {rec}_SIZE {dtype.itemsize}"]
    rows = []
    for field, off, fd in _fields(dtype):
        macro = f"{rec}_{field.lstrip('_').upper()}"
        lines.append(f"#define {macro}_OFF {off}")
        if fd.subdtype is None:
            lines.append(f"#define {macro}_T {_C_TYPES[fd.kind + str(fd.itemsize)]}")
        rows.append(f'    {{"{field}", {off}, {fd.itemsize}, "{type_string(fd)}"}},')
    lines.append(f"#define {rec}_NFIELDS {len(rows)}")
    lines.append(f"static const schema_field {rec}_SCHEMA[{rec}_NFIELDS] = {{")
    return [*lines, *rows, "};", ""]


def constants_of(module: Any) -> dict[str, int]:
    """The integer constants of a layout module (SIDE_BUY, VERDICT_APPROVED, ...)."""
    return {k: v for k, v in vars(module).items() if k.isupper() and type(v) is int}


def _constants(constants: Mapping[str, int]) -> list[str]:
    lines = [f"#define {k} {v if v >= 0 else f'({v})'}" for k, v in constants.items()]
    lines.append(f"#define LAYOUT_NCONSTANTS {len(constants)}")
    lines.append("static const schema_const LAYOUT_CONSTANTS[LAYOUT_NCONSTANTS] = {")
    lines.extend(f'    {{"{k}", {v}}},' for k, v in constants.items())
    return [*lines, "};", ""]


def render(records: Mapping[str, np.dtype[Any]], constants: Mapping[str, int]) -> str:
    """The header's text for these layouts (name -> dtype) and constants."""
    out = [_PREAMBLE]
    for name, dtype in records.items():
        if name != "raw64":  # opaque bytes: no field a kernel reads
            out.extend(_record(name, dtype))
    out.extend(_constants(constants))
    out.append("#endif /* NAUTILUSD_SCHEMA_H */\n")
    return "\n".join(out)


def current() -> str:
    """The header's text for shm.layout as it is now."""
    from shm import layout

    return render(layout.RECORDS, constants_of(layout))


def write(path: Path, text: str) -> bool:
    """Write the header unless it already holds `text`; returns whether it changed."""
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


def main(argv: list[str]) -> int:
    if argv[1:] == ["--check"]:
        if HEADER.exists() and HEADER.read_text() == current():
            return 0
        print(f"{HEADER} is stale: run python -m engines._schema", file=sys.stderr)
        return 1
    print(f"{HEADER}: {'written' if write(HEADER, current()) else 'current'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
