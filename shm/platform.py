"""The memory-ordering model the rings rely on, checked once at import.

Writers store records first and then publish with one aligned 8-byte store of the cursor;
readers load the cursor and then the records. On x86-64 (TSO) stores are not reordered
with older stores and loads are not reordered with older loads, so a reader that sees a
cursor also sees every record before it. CPython performs each `memoryview` element store
as one aligned machine store. On weaker models (arm64, ppc64le, riscv) this needs
release/acquire fences, which pure Python cannot emit: we refuse to run there unless an
atomic backend is importable (none ships yet).
"""

from __future__ import annotations

import os
import platform

from shm.errors import UnsupportedPlatformError

TSO_MACHINES = frozenset({"x86_64", "amd64", "i686", "i386"})
OVERRIDE_ENV = "NAUTILUSD_UNSAFE_MEMORY_ORDER"


def check_memory_model(machine: str | None = None) -> str:
    """Return the machine name if its ordering is safe for the rings, else raise."""
    arch = (machine or platform.machine()).lower()
    if arch in TSO_MACHINES:
        return arch
    if os.environ.get(OVERRIDE_ENV) == "1":
        return arch
    raise UnsupportedPlatformError(
        f"shared-memory rings need a total-store-order CPU (x86-64); this machine is {arch!r}. "
        f"No atomic backend is available; set {OVERRIDE_ENV}=1 only for testing."
    )
