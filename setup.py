"""Build hook for the compiled one-record paths: the rings' (shm/_native.c) and each shipped
engine's kernel beside it (engines/<engine>/_kernel.c); metadata is in pyproject.toml. All are
optional: without a C compiler the Python paths, which are also the reference, run instead
(`nautilusd check` says which).

Before compiling, the kernels' record header (engines/_schema.h) is regenerated from
shm/layout.py, so a kernel is always built for the layouts of the tree it is built from."""

import hashlib
import importlib.util
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
# IEEE arithmetic as Python's: no fused multiply-add, no fast-math.
FLAGS = ["-O2", "-ffp-contract=off", "-Wall", "-Wextra", "-Wno-unused-parameter"]
KERNEL_HEADERS = ["engines/_schema.h", "engines/_kernel.h"]


def _load(relative: str):
    """A module of this tree by its path (not through its package: nothing else runs)."""
    spec = importlib.util.spec_from_file_location(Path(relative).stem, ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildWithSchema(build_ext):
    """build_ext that writes engines/_schema.h from shm/layout.py first."""

    def run(self) -> None:
        layout, schema = _load("shm/layout.py"), _load("engines/_schema.py")
        text = schema.render(layout.RECORDS, schema.constants_of(layout))
        if schema.write(ROOT / "engines/_schema.h", text):
            print("engines/_schema.h regenerated from shm/layout.py")
        super().run()


def _kernel(engine: str) -> Extension:
    # The sources' fingerprint, as engines.compiled.source_sha computes it: a kernel left from
    # before its C or its calling convention changed is refused at load, not called wrongly.
    source = f"engines/{engine}/_kernel.c"
    sha = hashlib.sha256(b"".join((ROOT / f).read_bytes()
                                  for f in (source, "engines/_kernel.h"))).hexdigest()[:16]
    return Extension(f"engines.{engine}._kernel", [source],
                     include_dirs=["engines"], depends=KERNEL_HEADERS, optional=True,
                     extra_compile_args=FLAGS, define_macros=[("KERNEL_SOURCE_SHA", f'"{sha}"')])


setup(
    cmdclass={"build_ext": BuildWithSchema},
    ext_modules=[
        Extension("shm._native", ["shm/_native.c"], optional=True, extra_compile_args=FLAGS),
        Extension("nautilusd._mmhold", ["nautilusd/_mmhold.c"], optional=True,
                  extra_compile_args=FLAGS),
        _kernel("strategy"),
        _kernel("risk"),
    ],
)
