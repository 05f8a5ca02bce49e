"""Errors raised by the engine SDK's bus and service helpers and its kernel loader.

Each names the endpoint, service or topic it concerns, so an operator can act on it.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class for every error raised by the engine SDK."""


class CounterNameError(EngineError):
    """An engine class declares counter names nautilusd cannot use (engines.counters)."""


class GatewayConfigError(EngineError):
    """The WebSocket gateway cannot get a usable token (engines.gateway)."""


class BusError(EngineError):
    """A bus socket could not be set up (bad endpoint, bad topic)."""

    def __init__(self, endpoint: str, reason: str) -> None:
        self.endpoint = endpoint
        super().__init__(f"bus {endpoint}: {reason}")


class ServiceError(EngineError):
    """A service answered with an error: `code` is its wire code, e.g. UNKNOWN_METHOD."""

    def __init__(self, service: str, code: str, message: str) -> None:
        self.service, self.code, self.message = service, code, message
        super().__init__(f"service {service!r} failed with {code}: {message}")


class ServiceTimeout(EngineError):
    """A service did not answer within the time-out (down, busy or unreachable)."""

    def __init__(self, service: str, endpoint: str, timeout_ms: int) -> None:
        self.service, self.endpoint, self.timeout_ms = service, endpoint, timeout_ms
        super().__init__(f"no reply from service {service!r} at {endpoint} "
                         f"within {timeout_ms} ms")


class KernelSchemaError(EngineError):
    """A compiled kernel was built for other record layouts than shm.layout declares, or from
    other sources than the tree's (a stale build)."""

    def __init__(self, module: str, problems: list[str]) -> None:
        self.module, self.problems = module, problems
        super().__init__(
            f"kernel {module} does not match this tree: {'; '.join(problems)}; "
            "rebuild it (python setup.py build_ext --inplace; in a checkout, "
            "rm -f .venv/.installed && make .venv/.installed), or set NAUTILUSD_PURE_PYTHON=1 "
            "to run the Python paths")


class StateError(EngineError):
    """A state directory or file is missing, unsafe (a symlink, someone else's, open to
    others) or does not match what its reader expects; `path` names it."""

    def __init__(self, path: object, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"state {path}: {reason}")
