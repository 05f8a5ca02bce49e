"""reload's refusals: a change only a restart can apply is named, never silently accepted."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType

import pytest

from nautilusd.config.model import SupervisorConfig, Topology
from nautilusd.errors import ConfigError
from nautilusd.livechange import refuse_unappliable, unappliable

pytestmark = pytest.mark.timeout(10)


def _topology() -> Topology:
    empty = MappingProxyType({})
    return Topology(source=Path("t.toml"), supervisor=SupervisorConfig(), groups=empty,
                    rings=empty, engines=empty)


@pytest.mark.parametrize(("key", "value"), [("cpus", (1,)), ("log_format", "console"),
                                            ("log_level", "debug"), ("instance", "other")])
def test_reload_when_a_start_only_supervisor_key_changes_is_refused_naming_it(
    key: str, value: object,
) -> None:
    """nautilusd applies its own cores and logging once, at start: a reload changing them is
    refused with the key, before and after."""
    old = _topology()
    new = dataclasses.replace(old, supervisor=dataclasses.replace(old.supervisor,
                                                                  **{key: value}))
    assert any(line.startswith(f"supervisor.{key}:") for line in unappliable(old, new))
    with pytest.raises(ConfigError, match=f"supervisor.{key}"):
        refuse_unappliable(old, new)
    assert unappliable(old, old) == []
