"""engines.compiled: kernels load only when built for the record schema of shm.layout."""

from __future__ import annotations

import importlib.util
import shlex
import shutil
import subprocess
import sysconfig
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from engines import _schema, compiled
from engines.errors import KernelSchemaError
from shm import layout

ROOT = Path(__file__).resolve().parents[2]


def _as_compiled(dtype: np.dtype) -> compiled.CompiledRecord:
    """A record table as a kernel built from `dtype` reports it in SCHEMA."""
    return dtype.itemsize, tuple(
        (name, int(dtype.fields[name][1]), dtype.fields[name][0].itemsize,
         _schema.type_string(dtype.fields[name][0])) for name in dtype.names)


def _swapped(dtype: np.dtype, a: str, b: str) -> np.dtype:
    """`dtype` with fields a and b (of one size) trading places."""
    names = list(dtype.names)
    i, j = names.index(a), names.index(b)
    names[i], names[j] = names[j], names[i]
    return np.dtype([(n, dtype.fields[n][0]) for n in names])


# The order record as it would be if qty and price traded places (a DECISION embeds it).
MOVED_ORDER = _swapped(layout.ORDER, "qty", "price")
MOVED = dict(layout.RECORDS, order=MOVED_ORDER,
             decision=_swapped(layout.DECISION, "qty", "price"))


def test_schema_header_when_committed_matches_the_layouts() -> None:
    """engines/_schema.h is what shm/layout.py generates now (regenerate: python -m
    engines._schema); a layout change without it is caught here and at load time."""
    assert _schema.HEADER.read_text() == _schema.current()


def test_check_schema_when_layouts_agree_passes() -> None:
    """A kernel built from the current layouts and constants is accepted."""
    tables = {n: _as_compiled(layout.RECORDS[n]) for n in ("tick", "order", "decision")}
    compiled.check_schema("engines.risk._kernel", tables,
                          _schema.constants_of(layout))


@pytest.mark.parametrize("module", compiled.KERNELS)
def test_kernel_when_built_reports_the_current_schema(module: str) -> None:
    """Each built kernel reports the records and constants it was compiled with, and they
    are shm.layout's."""
    found = compiled.kernel(module)
    if found is None:
        pytest.skip(f"{module} not built")
    assert set(found.SCHEMA) >= {"tick", "order"}
    assert found.SCHEMA["order"] == _as_compiled(layout.ORDER)
    assert _schema.constants_of(layout) == found.CONSTANTS


def test_check_schema_when_a_field_moved_refuses_naming_record_field_and_offsets() -> None:
    """A kernel built before qty and price traded places is refused, naming both fields
    with their compiled and schema offsets."""
    with pytest.raises(KernelSchemaError) as err:
        compiled.check_schema("engines.strategy._kernel", {"order": _as_compiled(layout.ORDER)},
                              {}, records=MOVED)
    message = str(err.value)
    assert "engines.strategy._kernel" in message
    assert "order.qty at compiled offset 24, schema offset 32" in message
    assert "order.price at compiled offset 32, schema offset 24" in message
    assert "python setup.py build_ext --inplace" in message


def test_check_schema_when_a_field_was_added_or_the_size_changed_refuses() -> None:
    """A field the kernel was not compiled with, or another record size, is refused."""
    grown = np.dtype([*layout.ORDER.descr, ("venue_id", "<u8")])
    with pytest.raises(KernelSchemaError, match=r"order record size compiled 64 bytes, schema "
                       r"72 bytes.*order.venue_id at schema offset 64, not compiled in"):
        compiled.check_schema("k", {"order": _as_compiled(layout.ORDER)}, {},
                              records={"order": grown})


def test_check_schema_when_a_constant_differs_refuses_naming_it() -> None:
    """A reason code renumbered since the build is refused."""
    with pytest.raises(KernelSchemaError, match="constant REASON_INVALID compiled as 9, schema 10"):
        compiled.check_schema("k", {}, {"REASON_INVALID": 9},
                              expected_constants={"REASON_INVALID": 10})


def _compile_signal_kernel(tmp: Path, records: dict[str, np.dtype],
                           sha: str | None = "this tree") -> Path:
    """engines/strategy/_kernel.c built against a header generated from `records` (beside a
    copy of engines/_kernel.h, which includes it), fingerprinted `sha` as setup.py does
    ("this tree": this tree's sources' fingerprint; None: none, as an old build)."""
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    if shutil.which(cc[0]) is None:
        pytest.skip("no C compiler")
    (tmp / "_schema.h").write_text(_schema.render(records, _schema.constants_of(layout)))
    shutil.copy(ROOT / "engines/_kernel.h", tmp / "_kernel.h")
    out = tmp / f"_kernel{sysconfig.get_config_var('EXT_SUFFIX')}"
    if sha == "this tree":
        sha = compiled.source_sha(compiled.SIGNAL)
    define = [] if sha is None else [f'-DKERNEL_SOURCE_SHA="{sha}"']
    subprocess.run([*cc, "-shared", "-fPIC", "-O0", *define, f"-I{tmp}",
                    f"-I{sysconfig.get_paths()['include']}",
                    str(ROOT / "engines/strategy/_kernel.c"), "-o", str(out)],
                   check=True, capture_output=True, timeout=120)
    return out


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("engines.strategy._kernel", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(180)
def test_kernel_when_built_against_a_stale_header_refuses_to_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real build of the strategy kernel for a layout where qty and price traded places:
    the loader refuses it (KernelSchemaError from kernel() and build()), no silent fallback."""
    stale = _load(_compile_signal_kernel(tmp_path, MOVED))
    assert stale.SCHEMA["order"] == _as_compiled(MOVED_ORDER)

    def load(module: str) -> Any:
        return stale

    monkeypatch.setattr(compiled, "load_compiled", load)
    monkeypatch.setattr(compiled, "_checked", set())
    monkeypatch.setattr(compiled, "_forced_off", False)
    with pytest.raises(KernelSchemaError,
                       match=r"order\.qty at compiled offset 32, schema offset 24"):
        compiled.kernel(compiled.SIGNAL)
    with pytest.raises(KernelSchemaError):
        compiled.build(compiled.SIGNAL, "signal")


@pytest.mark.timeout(180)
def test_kernel_when_built_against_the_current_header_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same build against the current layouts passes the check (the control)."""
    fresh = _load(_compile_signal_kernel(tmp_path, dict(layout.RECORDS)))
    monkeypatch.setattr(compiled, "load_compiled", lambda module: fresh)
    monkeypatch.setattr(compiled, "_checked", set())
    monkeypatch.setattr(compiled, "_forced_off", False)
    assert compiled.kernel(compiled.SIGNAL) is fresh


@pytest.mark.timeout(180)
@pytest.mark.parametrize(("sha", "problem"), [
    ("0123456789abcdef", r"built from other sources \(SOURCE_SHA 0123456789abcdef, this tree's "),
    (None, "reports no SOURCE_SHA"),
])
def test_kernel_when_built_from_other_sources_refuses_to_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sha: str | None, problem: str
) -> None:
    """A build of the right layouts from other sources (a kernel left from before its C or
    its arguments changed: called, it fails or misreads them) is refused, naming the
    fingerprints, with the way to rebuild."""
    stale = _load(_compile_signal_kernel(tmp_path, dict(layout.RECORDS), sha=sha))
    monkeypatch.setattr(compiled, "load_compiled", lambda module: stale)
    monkeypatch.setattr(compiled, "_checked", set())
    monkeypatch.setattr(compiled, "_forced_off", False)
    with pytest.raises(KernelSchemaError, match=problem) as err:
        compiled.kernel(compiled.SIGNAL)
    assert "make .venv/.installed" in str(err.value)


def test_source_sha_when_a_source_changes_changes() -> None:
    """The fingerprint covers the kernel's C and the shared header, and is what the build
    passes: this tree's kernels, built by setup.py, carry it."""
    want = compiled.source_sha(compiled.CHECK)
    assert want is not None and len(want) == 16
    assert compiled.source_sha(compiled.SIGNAL) != want  # another _kernel.c
    built = compiled.kernel(compiled.CHECK)
    if built is not None:
        assert want == built.SOURCE_SHA
