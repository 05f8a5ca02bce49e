"""Build hook for the compiled one-record ring paths (shm/_native.c); metadata is in
pyproject.toml. The extension is optional: without a C compiler the Python paths in
shm/_fastpath.py run instead (`nautilusd check` says which)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("shm._native", ["shm/_native.c"], optional=True,
                             extra_compile_args=["-O2", "-Wall", "-Wextra",
                                                 "-Wno-unused-parameter"])])
