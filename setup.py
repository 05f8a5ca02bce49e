"""Build hook for the compiled one-record paths: the rings' (shm/_native.c) and the order
path's kernels (engines/_kernels.c); metadata is in pyproject.toml. Both are optional: without
a C compiler the Python paths, which are also the reference, run instead (`nautilusd check`
says which)."""

from setuptools import Extension, setup

# IEEE arithmetic as Python's: no fused multiply-add, no fast-math.
FLAGS = ["-O2", "-ffp-contract=off", "-Wall", "-Wextra", "-Wno-unused-parameter"]

setup(ext_modules=[
    Extension("shm._native", ["shm/_native.c"], optional=True, extra_compile_args=FLAGS),
    Extension("engines._kernels", ["engines/_kernels.c"], optional=True,
              extra_compile_args=FLAGS),
])
