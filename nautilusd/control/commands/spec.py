"""What a command module declares: its daemon handler and its nautilusctl half, one object.

Each module in this package ends with `COMMAND = Command(...)`; the registry lists modules,
and the daemon's dispatch table, the nautilusctl parser and its --help are built from these.
"""

from __future__ import annotations

import argparse
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from nautilusd.control.commands.context import CommandContext

# nautilusctl exit codes (health: its result code, and HEALTH_DOWN when the daemon is away)
EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_NOT_RUNNING: Final = 3
EXIT_DENIED: Final = 4
HEALTH_DOWN: Final = 2
SECOND_READING_S: Final = 0.5

Handler = Callable[[CommandContext[Any], dict[str, Any]], object]
Arguments = Callable[[argparse.ArgumentParser], None]


class UsageError(ValueError):
    """A command-line value argparse let through but the command cannot use (exit 2)."""


def no_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommand takes nothing but the common options."""


def no_request(args: argparse.Namespace) -> dict[str, Any]:
    return {}


def whole_result(args: argparse.Namespace, result: Any) -> Any:
    return result


def one_reading(result: Any) -> bool:
    return False


def exit_ok(result: Any) -> int:
    return EXIT_OK


@dataclass(frozen=True, kw_only=True, slots=True)
class Remote:
    """The nautilusctl half of a daemon command: one request, its reply rendered.

    `request` turns the parsed arguments into the wire arguments (raising UsageError on a
    value it cannot use); `select` narrows the reply to what was asked for (UsageError: a
    name the reply does not have); `render` gives the text shown without --json;
    `exit_code` reads the result; `unreachable_exit` replaces exits 1, 3 and 4 when the
    daemon is not reached; `second_reading` true: the reply is asked for once more after
    SECOND_READING_S (a rate needs two readings).
    """

    help: str
    render: Callable[[argparse.Namespace, Any], str]
    arguments: Arguments = no_arguments
    request: Callable[[argparse.Namespace], dict[str, Any]] = no_request
    select: Callable[[argparse.Namespace, Any], Any] = whole_result
    second_reading: Callable[[Any], bool] = one_reading
    exit_code: Callable[[Any], int] = exit_ok
    unreachable_exit: int | None = None


class Permission(enum.Enum):
    """What a peer on the fleet control endpoint must be granted to run a command
    ([[peers]] allow): read (look), operate (start, stop, restart engines), admin (change
    the daemon itself: reload, re-exec, shutdown, upgrade)."""

    READ = "read"
    OPERATE = "operate"
    ADMIN = "admin"


@dataclass(frozen=True, kw_only=True, slots=True)
class Command:
    """A daemon command: its wire name and handler, and its nautilusctl half (None: none)."""

    name: str
    run: Handler
    cli: Remote | None = None
    read_only: bool = False  # served while the daemon shuts down
    permission: Permission | None = None  # None: READ when read_only, else ADMIN

    @property
    def needs(self) -> Permission:
        """The permission it takes; a command that declares none and changes anything is
        admin (a new command is fail-closed until it says otherwise)."""
        if self.permission is not None:
            return self.permission
        return Permission.READ if self.read_only else Permission.ADMIN
