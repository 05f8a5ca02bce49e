"""Engine params against each engine's declared spec (`Engine.params_spec`): the step after
`load_config` that `check`, `run` and `reload` take before any engine starts or restarts.

Separate from the loader on purpose: it imports each engine's module (as the forkserver
will), which parsing a file alone never does.
"""

from __future__ import annotations

from pathlib import Path

from engines import load_engine_class, param_problems
from nautilusd.config.load import load_config
from nautilusd.config.model import Topology
from nautilusd.errors import ConfigError


def params_errors(topology: Topology) -> list[tuple[str, str]]:
    """(key path, message) for every engine whose entry or params its spec refuses."""
    source = str(topology.source)
    errors: list[tuple[str, str]] = []
    for name, engine in topology.engines.items():
        if engine.entry is None:
            continue  # an exec'd program: its params are its own business
        try:
            spec = load_engine_class(engine.entry).params_spec
        except (ImportError, AttributeError, TypeError, ValueError) as exc:
            path = f"engines.{name}.entry"
            errors.append((path, f"{source}: {path}: cannot load {engine.entry!r}: "
                                 f"{type(exc).__name__}: {exc}"))
            continue
        if spec is None:
            continue
        path = f"engines.{name}.params"
        errors += [(path, f"{source}: {problem}")
                   for problem in param_problems(spec, engine.params, path)]
    return errors


def check_params(topology: Topology) -> Topology:
    """`topology` unchanged, or ConfigError listing every params problem."""
    errors = params_errors(topology)
    if errors:
        raise ConfigError(str(topology.source), errors)
    return topology


def load_checked(path: str | Path) -> Topology:
    """`load_config` and then every engine's params: what run and reload apply."""
    return check_params(load_config(path))
