"""Errors raised by the nautilusd daemon: config, control and process boundaries (an illegal
lifecycle move raises nautilusd.states.InvalidTransition, beside the table it breaks).

Every error names the offending value and where it came from, so an operator can act on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class NautilusdError(Exception):
    """Base class for every error raised by the daemon."""


class ConfigError(NautilusdError):
    """A topology file is invalid; `errors` holds every (key_path, message) found.

    Each message is complete on its own (it names the file, the key path and the bad
    value); str() joins them one per line.
    """

    def __init__(self, source: str, errors: Iterable[tuple[str, str]]) -> None:
        self.source = source
        self.errors: list[tuple[str, str]] = list(errors)
        super().__init__("\n".join(message for _, message in self.errors))

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across process boundaries
        return (type(self), (self.source, self.errors))


class UnknownTargetError(NautilusdError):
    """A command named an engine, instance or group that the topology does not have."""

    def __init__(self, target: str, known: Iterable[str] = ()) -> None:
        self.target = target
        self.known = tuple(known)
        hint = f" (known: {', '.join(self.known)})" if self.known else ""
        super().__init__(f"unknown target: {target!r}{hint}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.target, self.known))


class ControlError(NautilusdError):
    """A control request failed; `code` is the wire error code sent back to the client."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.code, self.message))


class SpawnError(NautilusdError):
    """An engine process could not be started (exec, fork or setup before engine code)."""

    def __init__(self, engine: str, reason: str) -> None:
        self.engine = engine
        self.reason = reason
        super().__init__(f"cannot spawn engine {engine!r}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.engine, self.reason))


class PinError(NautilusdError):
    """A process could not be pinned to its cores, or the pin did not hold when verified."""

    def __init__(self, pid: int, wanted: Iterable[int], found: Iterable[int] | None,
                 reason: str = "") -> None:
        self.pid = pid
        self.wanted = tuple(wanted)
        self.found = None if found is None else tuple(found)
        self.reason = reason
        why = reason or ("the affinity call failed" if self.found is None
                         else f"the kernel reports cpus {list(self.found)}")
        super().__init__(f"cannot pin pid {pid} to cpus {list(self.wanted)}: {why}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.pid, self.wanted, self.found, self.reason))
