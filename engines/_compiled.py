"""The compiled one-record kernels of the order path (engines/_kernels.c), when built.

The Python paths they mirror stay the reference and the fallback: `kernels()` is None when
the extension was not built or NAUTILUSD_PURE_PYTHON is set (the same switch as the rings'
compiled paths, shm._fastpath), and property tests hold the two to the same results.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

_forced_off = False


def kernels() -> ModuleType | None:
    """engines._kernels, or None when the Python paths are to run."""
    if _forced_off or os.environ.get("NAUTILUSD_PURE_PYTHON"):
        return None
    try:
        return importlib.import_module("engines._kernels")
    except ImportError:
        return None


def use_kernels(flag: bool) -> bool:
    """Tests: whether engines built from now on use the kernels (False if not built)."""
    global _forced_off
    _forced_off = not flag
    return kernels() is not None
