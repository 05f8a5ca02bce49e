"""Who may run which command on the fleet control endpoint: each [[peers]] entry's `allow`.

`allow` lists permissions ("read", "operate", "admin": commands.spec.Permission) and command
names; a peer that lists nothing may only read (fail closed). The endpoint asks `allows`
before running a request; a refusal names the command, the peer and what it was granted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from nautilusd.control.commands.spec import Command, Permission

DEFAULT_ALLOW: Final = ("read",)
PERMISSIONS: Final = tuple(p.value for p in Permission)


@dataclass(frozen=True, slots=True)
class Grant:
    """One peer's grant: the permissions and the single commands its `allow` lists."""

    peer: str
    permissions: frozenset[Permission]
    commands: frozenset[str]

    def allows(self, name: str, command: Command | None) -> bool:
        """Whether the peer may run `name` (an unknown command needs admin, like any command
        that does not declare what it takes)."""
        if name in self.commands:
            return True
        needs = command.needs if command is not None else Permission.ADMIN
        return needs in self.permissions

    def refusal(self, name: str, command: Command | None) -> str:
        needs = command.needs if command is not None else Permission.ADMIN
        granted = sorted(p.value for p in self.permissions) + sorted(self.commands)
        return (f"peer {self.peer!r} may not run {name!r}: it needs {needs.value!r}; "
                f"[[peers]] {self.peer}.allow grants {granted}")


def unknown_entries(allow: Iterable[str], commands: Mapping[str, Command]) -> list[str]:
    """The entries of an `allow` list that are neither a permission nor a command."""
    return [a for a in allow if a not in PERMISSIONS and a not in commands]


def grant(peer: str, allow: Iterable[str]) -> Grant:
    """The grant of `peer` from its (checked) `allow` entries."""
    entries = tuple(allow)
    return Grant(peer, frozenset(Permission(a) for a in entries if a in PERMISSIONS),
                 frozenset(a for a in entries if a not in PERMISSIONS))
