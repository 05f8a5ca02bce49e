"""Hostile-config fuzzing: whatever the file holds, loading returns a Topology or a ConfigError.

Documents are random TOML (random nesting, keys and values), random mutations of a valid
topology, and raw random text; no other exception may escape and every message names the file.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nautilusd.config._sections import ENGINE_SPEC, GROUP_SPEC, RING_SPEC, SUPERVISOR_SPEC
from nautilusd.config.load import TOP_LEVEL_KEYS, loads_config, start_order
from nautilusd.config.model import Topology
from nautilusd.errors import ConfigError

SOURCE = "fuzz.toml"
VALID = (Path(__file__).parent.parent / "data" / "configs" / "pipeline.toml").read_text()
# NAUTILUSD_FUZZ_EXAMPLES=5000 for a long hunt; the default keeps the suite quick.
EXAMPLES = int(os.environ.get("NAUTILUSD_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
pytestmark = pytest.mark.timeout(90 if EXAMPLES <= 300 else 3600)

KNOWN_KEYS = sorted({*TOP_LEVEL_KEYS, *SUPERVISOR_SPEC, *GROUP_SPEC, *RING_SPEC, *ENGINE_SPEC,
                     "memlock", "nofile", "as", "producer", "consumer", "sidecar", "data"})
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), text)
scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, 1, -1, 2, 8, 1024, 1000]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    text,
    st.sampled_from(["always", "busy_spin", "block", "tick", "producer", "a.b:C", "/bin/true"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)
    ),
    max_leaves=12,
)
host_cpus = st.one_of(st.none(), st.frozensets(st.integers(0, 7), max_size=8))


def toml_value(value: Any) -> str:
    """A TOML rendering of a parsed value (inline tables, so any nesting fits one line)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    items = ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items())
    return "{" + items + "}"


def toml_document(doc: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in doc.items())


def assert_loads_or_refuses(document: str | bytes, cpus: frozenset[int] | None) -> None:
    """The contract: a Topology, or a ConfigError whose every line names the file."""
    try:
        topology = loads_config(document, source=SOURCE, host_cpus=cpus)
    except ConfigError as exc:
        assert exc.errors, "a ConfigError must carry at least one error"
        assert all(message.startswith(f"{SOURCE}") for _, message in exc.errors)
        assert len(str(exc).splitlines()) == len(exc.errors)  # one line per error
        return
    assert isinstance(topology, Topology)
    assert sorted(start_order(topology)) == sorted(topology.engines)


def test_toml_renderer_when_given_valid_config_round_trips() -> None:
    """The renderer used by the fuzzers writes TOML that parses back to the same data."""
    doc = tomllib.loads(VALID)
    assert tomllib.loads(toml_document(doc)) == doc
    assert isinstance(loads_config(toml_document(doc), host_cpus={0, 1}), Topology)


@FUZZ
@given(st.dictionaries(keys, values, max_size=6), host_cpus)
def test_load_when_document_random_returns_topology_or_config_error(
    doc: dict[str, Any], cpus: frozenset[int] | None
) -> None:
    """A random TOML document never raises anything but ConfigError."""
    assert_loads_or_refuses(toml_document(doc), cpus)


sections = st.fixed_dictionaries(
    {},
    optional={
        "symbols": values,
        "supervisor": st.dictionaries(st.sampled_from(sorted(SUPERVISOR_SPEC)), values),
        "groups": st.dictionaries(text, st.dictionaries(keys, values, max_size=3), max_size=2),
        "engines": st.dictionaries(
            st.sampled_from(["a", "b", "c", "a-0"]),
            st.dictionaries(st.sampled_from(sorted(ENGINE_SPEC)), values, max_size=6),
            max_size=4,
        ),
        "rings": st.dictionaries(
            text, st.dictionaries(st.sampled_from(sorted(RING_SPEC)), values, max_size=6),
            max_size=2,
        ),
    },
)


@FUZZ
@given(sections, host_cpus)
def test_load_when_sections_shaped_but_values_random_never_crashes(
    doc: dict[str, Any], cpus: frozenset[int] | None
) -> None:
    """Right section names with random keys and values still only raise ConfigError."""
    assert_loads_or_refuses(toml_document(doc), cpus)


def _mutate(doc: Any, data: st.DataObject) -> Any:
    """Walk to a random table in `doc` and delete, replace, add or rename one key."""
    node = doc
    while isinstance(node, dict) and node and data.draw(st.booleans()):
        child = node[data.draw(st.sampled_from(sorted(node)))]
        if not isinstance(child, dict):
            break
        node = child
    if not isinstance(node, dict):
        return doc
    action = data.draw(st.sampled_from(["delete", "replace", "add", "rename"]))
    if action == "add" or not node:
        node[data.draw(keys)] = data.draw(values)
        return doc
    key = data.draw(st.sampled_from(sorted(node)))
    if action == "delete":
        del node[key]
    elif action == "replace":
        node[key] = data.draw(values)
    else:
        node[data.draw(keys)] = node.pop(key)
    return doc


@FUZZ
@given(st.data(), host_cpus)
def test_load_when_valid_config_mutated_returns_topology_or_config_error(
    data: st.DataObject, cpus: frozenset[int] | None
) -> None:
    """Up to five random edits of a valid topology never raise anything but ConfigError."""
    doc = tomllib.loads(VALID)
    for _ in range(data.draw(st.integers(1, 5))):
        doc = _mutate(doc, data)
    assert_loads_or_refuses(toml_document(doc), cpus)


@FUZZ
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200),
                 st.text(st.sampled_from("[]{}=\"',.\n #abc1-_"), max_size=200)))
def test_load_when_bytes_arbitrary_returns_topology_or_config_error(document: bytes | str) -> None:
    """Arbitrary bytes or text (mostly not TOML at all) are refused with a ConfigError."""
    assert_loads_or_refuses(document, None)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("depth", [50, 5000])
def test_load_when_nesting_deep_returns_topology_or_config_error(depth: int) -> None:
    """Deeply nested arrays and tables cannot blow the stack into an uncaught error."""
    assert_loads_or_refuses("x = " + "[" * depth + "]" * depth + "\n", None)
    assert_loads_or_refuses("[engines.a]\nparams = " + "{a = " * depth + "1" + "}" * depth, None)
