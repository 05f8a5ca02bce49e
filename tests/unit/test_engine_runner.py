"""The engine runner's pieces that need no supervisor: pinning, entry loading, pickling specs."""

from __future__ import annotations

import os
import pickle
from types import MappingProxyType

import pytest

from engines.reference.engine import ReferenceEngine
from engines.runner import LaunchSpec, PinFailed, load_engine_class, pin
from engines.spec import EngineConfig


def test_pin_when_core_missing_raises_naming_cores():
    """Pinning to a core the host lacks is an error that names the cores."""
    missing = max(os.sched_getaffinity(0)) + 32
    before = os.sched_getaffinity(0)
    with pytest.raises(PinFailed, match=str(missing)):
        pin((missing,))
    assert os.sched_getaffinity(0) == before


def test_pin_when_core_present_holds_and_is_verified():
    """A pin to an existing core takes and is read back."""
    before = os.sched_getaffinity(0)
    core = min(before)
    try:
        assert pin((core,)) == [core]
        assert os.sched_getaffinity(0) == {core}
    finally:
        os.sched_setaffinity(0, before)


def test_load_engine_class_when_not_an_engine_raises_naming_entry():
    """An entry that is not an Engine subclass is refused with its name."""
    assert load_engine_class("engines.reference:ReferenceEngine") is ReferenceEngine
    with pytest.raises(TypeError, match="os:getcwd"):
        load_engine_class("os:getcwd")


def test_launch_spec_when_pickled_keeps_mapping_params():
    """A spec with mapping-proxy params crosses the forkserver socket intact."""
    config = EngineConfig(name="a", entry="x:Y", params=MappingProxyType({"k": [1, 2]}),
                          environment=MappingProxyType({"TZ": "UTC"}))
    spec = LaunchSpec(name="a", config=config, cpus=(0,), slot=1, status_segment="s",
                      shm_dir="/dev/shm")
    back = pickle.loads(pickle.dumps(spec))
    assert back == spec and isinstance(back.config.params, MappingProxyType)
