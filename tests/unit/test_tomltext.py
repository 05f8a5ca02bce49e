"""Tests for the TOML writer used by generated topologies."""

from __future__ import annotations

import tomllib

import pytest

from engines.spec import RestartPolicy
from nautilusd.config.tomlwriter import toml_document, toml_value
from shm import Policy, WaitKind


def test_toml_value_when_nested_values_round_trip_through_tomllib() -> None:
    """Every supported kind reads back through tomllib as the same value."""
    doc = {"b": True, "i": 7, "f": 0.25, "s": 'a "quoted" \\ name', "l": [1, "x", [False]],
           "t": {"k": 1, "n": {"deep": "yes"}}}
    text = "\n".join(f"{k} = {toml_value(v)}" for k, v in doc.items())
    assert tomllib.loads(text) == doc


def test_toml_value_when_unsupported_type_raises_naming_it() -> None:
    """A value TOML cannot hold is refused with the value in the message."""
    with pytest.raises(TypeError, match="None"):
        toml_value(None)


def test_toml_document_when_topology_shaped_round_trips_through_tomllib() -> None:
    """Top-level scalars, a plain section and named sub-tables read back unchanged."""
    doc = {"symbols": ["A", "B"], "supervisor": {"instance": "x", "keep_rings": True},
           "engines": {"risk": {"entry": "engines.risk:RiskEngine", "params": {"q": 5}}}}
    assert tomllib.loads(toml_document(doc)) == doc


def test_toml_value_when_config_enums_writes_the_text_the_loader_reads() -> None:
    """Ring policies, wait kinds and restart policies are written as their TOML words."""
    doc = {"policy": Policy.OVERWRITE, "wait": WaitKind.BUSY_SPIN,
           "restart": RestartPolicy.ON_FAILURE}
    text = "\n".join(f"{k} = {toml_value(v)}" for k, v in doc.items())
    assert tomllib.loads(text) == {"policy": "overwrite", "wait": "busy_spin",
                                   "restart": "on-failure"}
