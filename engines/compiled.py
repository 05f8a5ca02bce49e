"""The compiled one-record kernels of the order path (engines/_kernels.c), when built.

The Python paths they mirror stay the reference and the fallback: `kernels()` is None when
the extension was not built or NAUTILUSD_PURE_PYTHON is set (the same switch as the rings'
compiled paths, shm._fastpath), and property tests hold the two to the same results.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from shm._fastpath import load_compiled

_forced_off = False


def kernels() -> ModuleType | None:
    """engines._kernels, or None when the Python paths are to run."""
    return None if _forced_off else load_compiled("engines._kernels")


def build(kind: str, *args: Any) -> Any:
    """A kernel object (`signal`, `check`) over `args`, or None: not built, forced off, or a
    parameter past int64 (the Python path handles those)."""
    k = kernels()
    if k is None:
        return None
    try:
        return getattr(k, kind)(*args)
    except OverflowError:
        return None


def use_kernels(flag: bool) -> bool:
    """Tests: whether engines built from now on use the kernels (False if not built)."""
    global _forced_off
    _forced_off = not flag
    return kernels() is not None
