"""A re-executed image loads its config without the params check only for the very bytes the
earlier image checked against its running topology (sha256 in the handover)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nautilusd.daemon import _load_topology, config_digest
from nautilusd.errors import ConfigError

pytestmark = pytest.mark.timeout(30)

CONFIG = """[supervisor]
instance = "digest-test"

[engines.alpha]
entry = "no_such_module_for_digest_test:Engine"
cpus = [0]
"""


def test_load_topology_when_handover_names_these_bytes_skips_the_params_check(
        tmp_path: Path) -> None:
    """An entry that cannot be imported is refused on a plain start and under another
    digest; with the digest of these bytes the check (its imports) is left out."""
    path = tmp_path / "nautilusd.toml"
    path.write_text(CONFIG)
    with pytest.raises(ConfigError, match="cannot load"):
        _load_topology(path, None)
    with pytest.raises(ConfigError, match="cannot load"):
        _load_topology(path, {"config_sha256": config_digest(b"other bytes")})
    with pytest.raises(ConfigError, match="cannot load"):
        _load_topology(path, {})  # an earlier image that checked nothing
    topology = _load_topology(path, {"config_sha256": config_digest(path.read_bytes())})
    assert list(topology.engines) == ["alpha"]
    assert topology.source == path.absolute()
