"""The compiled one-record kernels of the shipped engines (engines/<engine>/_kernel.c), loaded
only when they were built for the record schema of shm.layout.

The Python paths they mirror stay the reference and the fallback: a kernel is None when its
extension was not built or NAUTILUSD_PURE_PYTHON is set (the same switch as the rings'
compiled paths), and property tests hold the two to the same results. A kernel built for
other layouts (a field moved, added or retyped since it was compiled) is refused with a
KernelSchemaError, never replaced by the Python path in silence: a stale build is a broken
install, and the error says how to fix it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from engines._schema import type_string
from engines.errors import KernelSchemaError
from engines.records import COUNTER_BITS
from shm import layout, load_compiled

SIGNAL = "engines.strategy._kernel"  # the strategy's one-tick kernel
CHECK = "engines.risk._kernel"  # risk's one-order kernel
KERNELS = (SIGNAL, CHECK)

_forced_off = False
_checked: set[str] = set()

# SCHEMA[record] as a kernel reports it: (size, ((field, offset, size, type string), ...))
CompiledRecord = tuple[int, tuple[tuple[str, int, int, str], ...]]


def kernel(module: str) -> ModuleType | None:
    """The kernel extension `module` (SIGNAL, CHECK) once its schema is checked, or None when
    the Python paths are to run; KernelSchemaError when it was built for other layouts."""
    if _forced_off:
        return None
    found = load_compiled(module)
    if found is not None and module not in _checked:
        schema, constants = getattr(found, "SCHEMA", None), getattr(found, "CONSTANTS", None)
        if schema is None or constants is None:
            raise KernelSchemaError(module, ["it reports no SCHEMA or CONSTANTS (an old build)"])
        check_schema(module, schema, constants, getattr(found, "COUNTER_BITS", COUNTER_BITS))
        check_source(module, getattr(found, "SOURCE_SHA", None))
        _checked.add(module)
    return found


def source_sha(module: str) -> str | None:
    """The fingerprint of `module`'s sources in this tree (its _kernel.c and engines/_kernel.h,
    as setup.py takes it), or None where the sources are not installed beside it."""
    here = Path(__file__).resolve().parent
    files = [here / module.split(".")[1] / "_kernel.c", here / "_kernel.h"]
    if not all(f.is_file() for f in files):
        return None
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]


def check_source(module: str, built: str | None, expected: str | None = None) -> None:
    """Raise KernelSchemaError when `module` was built from other sources than this tree's
    (`expected`, for tests; default source_sha): its functions may take other arguments
    than the Python side passes."""
    want = source_sha(module) if expected is None else expected
    if want is None:
        return
    if built is None:
        raise KernelSchemaError(module, ["it reports no SOURCE_SHA (built before its sources "
                                         "were fingerprinted)"])
    if built != want:
        raise KernelSchemaError(module, [f"built from other sources (SOURCE_SHA {built}, "
                                         f"this tree's {want})"])


def build(module: str, kind: str, *args: Any) -> Any:
    """A kernel object (`signal`, `check`) of `module` over `args`, or None: not built, forced
    off, or a parameter past int64 (the Python path handles those)."""
    k = kernel(module)
    if k is None:
        return None
    try:
        return getattr(k, kind)(*args)
    except OverflowError:
        return None


def running() -> bool:
    """Whether every shipped kernel is in use: built for this schema and not forced off."""
    return all(kernel(m) is not None for m in KERNELS)


def use_kernels(flag: bool) -> bool:
    """Tests: whether engines built from now on use the kernels; returns running()."""
    global _forced_off
    _forced_off = not flag
    return running()


def check_schema(module: str, schema: Mapping[str, CompiledRecord],
                 constants: Mapping[str, int], counter_bits: int = COUNTER_BITS,
                 records: Mapping[str, np.dtype[Any]] | None = None,
                 expected_constants: Mapping[str, int] | None = None) -> None:
    """Raise KernelSchemaError unless every record, field and constant `module` was compiled
    with is the one shm.layout declares (or `records` / `expected_constants`, for tests)."""
    records = layout.RECORDS if records is None else records
    if expected_constants is None:
        expected_constants = {k: v for k, v in vars(layout).items()
                              if k.isupper() and type(v) is int}
    problems = [p for name, compiled in schema.items()
                for p in _record_problems(name, compiled, records.get(name))]
    problems += [f"constant {k} compiled as {v}, schema {expected_constants.get(k)}"
                 for k, v in constants.items() if expected_constants.get(k) != v]
    if counter_bits != COUNTER_BITS:
        problems.append(f"COUNTER_BITS compiled as {counter_bits}, engines.records "
                        f"{COUNTER_BITS}")
    if problems:
        raise KernelSchemaError(module, problems)


def _record_problems(name: str, compiled: CompiledRecord,
                     dtype: np.dtype[Any] | None) -> list[str]:
    """What differs between one record as compiled and as declared, field by field."""
    size, fields = compiled
    if dtype is None or dtype.fields is None:
        return [f"record {name!r} compiled in, not in the schema"]
    out = [] if size == dtype.itemsize else [
        f"{name} record size compiled {size} bytes, schema {dtype.itemsize} bytes"]
    built = {f: (off, nbytes, typ) for f, off, nbytes, typ in fields}
    for field, (fd, off) in ((f, (v[0], int(v[1]))) for f, v in dtype.fields.items()):
        was = built.pop(field, None)
        if was is None:
            out.append(f"{name}.{field} at schema offset {off}, not compiled in")
        elif was[0] != off:
            out.append(f"{name}.{field} at compiled offset {was[0]}, schema offset {off}")
        elif (was[1], was[2]) != (fd.itemsize, type_string(fd)):
            out.append(f"{name}.{field} compiled as {was[2]} ({was[1]} bytes), schema "
                       f"{type_string(fd)} ({fd.itemsize} bytes)")
    out += [f"{name}.{field} at compiled offset {off}, not in the schema"
            for field, (off, _, _) in built.items()]
    return out
