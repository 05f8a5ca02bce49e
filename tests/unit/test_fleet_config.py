"""Config checks of the fleet sections: [fleet], [[peers]] and the bridge engines' params."""

from __future__ import annotations

import pytest
import zmq

from nautilusd.config.load import loads_config
from nautilusd.errors import ConfigError

KEY = zmq.curve_keypair()[0].decode()
BASE = f"""
[fleet]
host = "a"
control_endpoint = "tcp://10.0.0.1:7100"

[[peers]]
name = "b"
address = "10.0.0.2"
public_key = "{KEY}"

[engines.marketdata]
entry = "engines.marketdata:MarketDataEngine"

[engines.ticks_out]
entry = "engines.bridge:RingSenderEngine"
params = {{ peer = "b", port = 7201, record = "tick" }}

[rings.ticks]
record = "tick"
capacity = 1024
policy = "overwrite"
writer = "marketdata"
readers = ["ticks_out"]
"""


def _errors(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        loads_config(text, source="a.toml", host_cpus={0, 1})
    return str(caught.value)


def test_load_when_fleet_is_complete_builds_peers_and_fleet() -> None:
    """A whole fleet section parses into FleetConfig and PeerConfig objects."""
    topology = loads_config(BASE, source="a.toml", host_cpus={0, 1})
    assert topology.fleet.host == "a"
    assert topology.fleet.control_endpoint == "tcp://10.0.0.1:7100"
    assert topology.peers["b"].address == "10.0.0.2"
    assert topology.peers["b"].control_port == 7100


def test_load_when_peer_lacks_keys_names_each_missing_key() -> None:
    """A [[peers]] entry without address and public_key is refused naming both."""
    text = BASE.replace('address = "10.0.0.2"\npublic_key = "' + KEY + '"\n', "")
    message = _errors(text)
    assert "peers[0].address: missing" in message
    assert "peers[0].public_key: missing" in message


def test_load_when_public_key_is_malformed_puts_the_value_in_the_message() -> None:
    """A key that is not 40 Z85 characters is refused with its value."""
    message = _errors(BASE.replace(KEY, "short"))
    assert "peers[0].public_key" in message and "'short'" in message


def test_load_when_bridge_peer_is_this_host_refuses_a_bridge_to_itself() -> None:
    """A bridge naming [fleet].host as its peer is a bridge to itself."""
    message = _errors(BASE.replace('peer = "b"', 'peer = "a"'))
    assert "engines.ticks_out.params.peer" in message and "itself" in message


def test_load_when_bridge_peer_is_unknown_lists_the_known_peers() -> None:
    """A bridge to a host not in [[peers]] names the known ones."""
    message = _errors(BASE.replace('peer = "b"', 'peer = "c"'))
    assert "no [[peers]] entry named 'c'" in message and "known: b" in message


def test_load_when_bridge_record_differs_from_its_ring_reports_the_schema_mismatch() -> None:
    """A bridge declaring another record than its ring's is refused, naming both."""
    message = _errors(BASE.replace('record = "tick" }', 'record = "fill" }'))
    assert "engines.ticks_out.params.record" in message
    assert "'fill'" in message and "'tick'" in message


def test_load_when_bridge_has_no_port_says_it_is_missing() -> None:
    """peer and port are required params of a bridge."""
    message = _errors(BASE.replace("port = 7201, ", ""))
    assert "engines.ticks_out.params.port: missing" in message


def test_load_when_peer_is_this_host_refuses_it() -> None:
    """A host is not its own peer."""
    message = _errors(BASE.replace('name = "b"', 'name = "a"'))
    assert "peers[0].name" in message and "its own peer" in message


def test_load_when_peer_has_no_allow_grants_read_only() -> None:
    """A peer that lists no `allow` may only read (fail closed)."""
    topology = loads_config(BASE, source="a.toml", host_cpus={0, 1})
    assert topology.peers["b"].allow == ("read",)


def test_load_when_allow_lists_permissions_and_commands_keeps_them() -> None:
    """`allow` takes permission names and command names."""
    text = BASE.replace('public_key = "' + KEY + '"\n',
                        'public_key = "' + KEY + '"\nallow = ["read", "operate", "reload"]\n')
    topology = loads_config(text, source="a.toml", host_cpus={0, 1})
    assert topology.peers["b"].allow == ("read", "operate", "reload")


def test_load_when_allow_names_an_unknown_entry_is_refused_naming_it() -> None:
    """A typo in `allow` is an error naming the entry, where it is, and what is valid."""
    text = BASE.replace('public_key = "' + KEY + '"\n',
                        'public_key = "' + KEY + '"\nallow = ["read", "stpo"]\n')
    message = _errors(text)
    assert "peers[0].allow[1]" in message and "'stpo'" in message
    assert "operate" in message and "restart" in message
