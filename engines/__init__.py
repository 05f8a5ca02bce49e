"""The engine SDK: what an engine written for nautilusd imports (`from engines import Engine`).

Each name loads its module on first use, so importing one SDK module (engines.spec,
engines.records) stays cheap; the SDK's own modules and the shipped engines import the
submodules directly, never this face, so nothing here can close an import cycle.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engines.base import Engine, EngineContext, Pollable
    from engines.bus import Publisher, Subscriber
    from engines.errors import BusError, EngineError, ServiceError, ServiceTimeout, StateError
    from engines.harness import Harness
    from engines.params import ParamError, did_you_mean, param, param_problems, parse_params, truth
    from engines.persist import StateFile
    from engines.rings import RecordReader, RecordWriter
    from engines.runner import LaunchSpec, load_engine_class
    from engines.runner import run as run_engine
    from engines.service import ServiceClient, ServiceServer, service_endpoint
    from engines.spec import EngineConfig, RestartPolicy, RingConfig, RLimits, SpinKind
    from engines.statedir import StateDir
    from engines.venue import SessionState, Venue
    from engines.wiring import Every, one_reader, one_writer, readers_of, tick_quotes
    from shm import Policy, WaitKind

# public name -> (module, attribute)
_HOMES = {
    "BusError": ("engines.errors", "BusError"),
    "Engine": ("engines.base", "Engine"),
    "EngineConfig": ("engines.spec", "EngineConfig"),
    "EngineContext": ("engines.base", "EngineContext"),
    "EngineError": ("engines.errors", "EngineError"),
    "Every": ("engines.wiring", "Every"),
    "Harness": ("engines.harness", "Harness"),
    "LaunchSpec": ("engines.runner", "LaunchSpec"),
    "ParamError": ("engines.params", "ParamError"),
    "Policy": ("shm", "Policy"),
    "Pollable": ("engines.base", "Pollable"),
    "Publisher": ("engines.bus", "Publisher"),
    "RLimits": ("engines.spec", "RLimits"),
    "RecordReader": ("engines.rings", "RecordReader"),
    "RecordWriter": ("engines.rings", "RecordWriter"),
    "RestartPolicy": ("engines.spec", "RestartPolicy"),
    "RingConfig": ("engines.spec", "RingConfig"),
    "ServiceClient": ("engines.service", "ServiceClient"),
    "ServiceError": ("engines.errors", "ServiceError"),
    "ServiceServer": ("engines.service", "ServiceServer"),
    "ServiceTimeout": ("engines.errors", "ServiceTimeout"),
    "SessionState": ("engines.venue", "SessionState"),
    "SpinKind": ("engines.spec", "SpinKind"),
    "StateDir": ("engines.statedir", "StateDir"),
    "StateError": ("engines.errors", "StateError"),
    "StateFile": ("engines.persist", "StateFile"),
    "Subscriber": ("engines.bus", "Subscriber"),
    "Venue": ("engines.venue", "Venue"),
    "WaitKind": ("shm", "WaitKind"),
    "load_engine_class": ("engines.runner", "load_engine_class"),
    "one_reader": ("engines.wiring", "one_reader"),
    "one_writer": ("engines.wiring", "one_writer"),
    "parse_params": ("engines.params", "parse_params"),
    "truth": ("engines.params", "truth"),
    "param_problems": ("engines.params", "param_problems"),
    "param": ("engines.params", "param"),
    "did_you_mean": ("engines.params", "did_you_mean"),
    "readers_of": ("engines.wiring", "readers_of"),
    "run_engine": ("engines.runner", "run"),
    "service_endpoint": ("engines.service", "service_endpoint"),
    "tick_quotes": ("engines.wiring", "tick_quotes"),
}

__all__ = [
    "BusError",
    "Engine",
    "EngineConfig",
    "EngineContext",
    "EngineError",
    "Every",
    "Harness",
    "LaunchSpec",
    "ParamError",
    "Policy",
    "Pollable",
    "Publisher",
    "RLimits",
    "RecordReader",
    "RecordWriter",
    "RestartPolicy",
    "RingConfig",
    "ServiceClient",
    "ServiceError",
    "ServiceServer",
    "ServiceTimeout",
    "SessionState",
    "SpinKind",
    "StateDir",
    "StateError",
    "StateFile",
    "Subscriber",
    "Venue",
    "WaitKind",
    "did_you_mean",
    "load_engine_class",
    "one_reader",
    "one_writer",
    "param",
    "param_problems",
    "parse_params",
    "readers_of",
    "run_engine",
    "service_endpoint",
    "tick_quotes",
    "truth",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'engines' has no attribute {name!r}")
    value = getattr(importlib.import_module(home[0]), home[1])
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
