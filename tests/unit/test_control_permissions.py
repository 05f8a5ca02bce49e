"""Per-peer grants of the fleet control endpoint (nautilusd.control.permissions)."""

from __future__ import annotations

import pytest

from nautilusd.control.commands import COMMANDS
from nautilusd.control.commands.spec import Permission
from nautilusd.control.permissions import DEFAULT_ALLOW, grant, unknown_entries


@pytest.mark.parametrize(("name", "needs"), [
    ("status", Permission.READ), ("health", Permission.READ), ("fleet", Permission.READ),
    ("stop", Permission.OPERATE), ("restart", Permission.OPERATE), ("start", Permission.OPERATE),
    ("reload", Permission.ADMIN), ("shutdown", Permission.ADMIN), ("upgrade", Permission.ADMIN),
])
def test_needs_when_asked_gives_each_command_its_permission(name: str,
                                                           needs: Permission) -> None:
    """Reads need read, engine actions operate, daemon changes admin."""
    assert COMMANDS[name].needs is needs


def test_allows_when_read_only_runs_reads_and_refuses_the_rest_naming_both() -> None:
    """The default grant runs status, refuses stop, reload and an unknown 'kill'."""
    ro = grant("b", DEFAULT_ALLOW)
    assert ro.allows("status", COMMANDS["status"])
    for name in ("stop", "reload", "kill"):
        assert not ro.allows(name, COMMANDS.get(name))
    message = ro.refusal("stop", COMMANDS["stop"])
    assert "'b'" in message and "'stop'" in message and "'operate'" in message


def test_allows_when_a_command_is_listed_grants_just_that_command() -> None:
    """allow = ["read", "restart"] runs restart but not stop."""
    ops = grant("c", ("read", "restart"))
    assert ops.allows("restart", COMMANDS["restart"])
    assert not ops.allows("stop", COMMANDS["stop"])


def test_unknown_entries_when_misspelt_are_returned() -> None:
    """Entries neither a permission nor a command are reported."""
    assert unknown_entries(("read", "stpo", "stop"), COMMANDS) == ["stpo"]
