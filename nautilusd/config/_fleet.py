"""The fleet sections: [fleet] (this host's name, its CURVE control endpoint), [[peers]]
(the other hosts: address, public key, what each may run here: `allow`), and the checks of
the bridge engines that use them.

A bridge engine (engines.bridge) names a peer in its params; the check refuses a peer that is
not listed, a bridge to this host itself, a missing port, and a ring whose layout is not the
`record` the bridge declares (the far side checks the same layout again at its HELLO).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from engines.spec import EngineConfig, PeerConfig, RingConfig
from nautilusd.config import _convert as cv
from nautilusd.config._convert import Collector, Field
from nautilusd.config.model import FleetConfig

SENDER_ENTRY: Final = "engines.bridge:RingSenderEngine"
RECEIVER_ENTRY: Final = "engines.bridge:RingReceiverEngine"
BUS_ENTRIES: Final = ("engines.bridge:BusSenderEngine", "engines.bridge:BusReceiverEngine")
_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}"
_Z85 = r"[0-9A-Za-z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}"

FLEET_SPEC: Final = {
    "host": Field(cv.string(_NAME, "a host name (letters, digits, '_', '.', '-')")),
    "control_endpoint": Field(cv.string(r"tcp://\S+:\d{1,5}", "'tcp://ADDRESS:PORT'")),
}
PEER_SPEC: Final = {
    "name": Field(cv.string(_NAME, "a host name (letters, digits, '_', '.', '-')")),
    "address": Field(cv.string(r"[^\s:/]+", "an IP address or host name")),
    "public_key": Field(cv.string(_Z85, "a 40-character Z85 CURVE public key "
                                  "(`nautilusctl keys generate` prints it)")),
    "control_port": Field(cv.integer(1, 65535)),
    "allow": Field(cv.array(cv.string(r"[a-z][a-z0-9_-]*", "a permission or command name"),
                            distinct=True)),
}
PEER_REQUIRED: Final = ("name", "address", "public_key")


def fleet(c: Collector, value: Any) -> FleetConfig:
    return FleetConfig(**cv.table(c, "fleet", value, FLEET_SPEC))


def peers(c: Collector, value: Any, host: str) -> dict[str, PeerConfig]:
    if not isinstance(value, list):
        c.wrong_type("peers", "array of tables ([[peers]])", value)
        return {}
    out: dict[str, PeerConfig] = {}
    for i, item in enumerate(value):
        path = f"peers[{i}]"
        if not isinstance(item, dict):
            c.wrong_type(path, "table", item)
            continue
        fields = cv.table(c, path, item, PEER_SPEC)
        missing = [k for k in PEER_REQUIRED if k not in item]
        for key in missing:
            c.error(f"{path}.{key}", f"missing: required key {key!r} not set")
        if missing or any(k not in fields for k in PEER_REQUIRED):
            continue
        name = fields["name"]
        _check_allow(c, f"{path}.allow", fields.get("allow", ()))
        if name in out:
            c.error(f"{path}.name", f"peer {name!r} listed twice")
        elif host and name == host:
            c.error(f"{path}.name", f"{name!r} is this host ([fleet].host): a host is not "
                    f"its own peer")
        else:
            out[name] = PeerConfig(**fields)
    return out


def _check_allow(c: Collector, path: str, allow: Any) -> None:
    # imported here: the control commands import the config package themselves
    from nautilusd.control.commands import COMMANDS
    from nautilusd.control.permissions import PERMISSIONS, unknown_entries

    if not isinstance(allow, tuple):
        return  # already reported by its converter
    for entry in unknown_entries(allow, COMMANDS):
        c.error(f"{path}[{allow.index(entry)}]", f"{cv.show(entry)} is neither a permission "
                f"({', '.join(PERMISSIONS)}) nor a command ({', '.join(sorted(COMMANDS))})")


def check_bridges(c: Collector, host: str, peer_map: Mapping[str, PeerConfig],
                  engines: Mapping[str, EngineConfig], rings: Mapping[str, RingConfig]) -> None:
    for engine in engines.values():
        if engine.entry not in (SENDER_ENTRY, RECEIVER_ENTRY, *BUS_ENTRIES):
            continue
        _check_bridge(c, host, peer_map, engine, rings)


def _check_bridge(c: Collector, host: str, peer_map: Mapping[str, PeerConfig],
                  engine: EngineConfig, rings: Mapping[str, RingConfig]) -> None:
    where = f"{cv.key_path('engines', engine.name)}.params"
    params = engine.params
    peer = params.get("peer")
    if not peer:
        c.error(f"{where}.peer", "missing: a bridge names the [[peers]] host it talks to")
    elif host and peer == host:
        c.error(f"{where}.peer", f"{peer!r} is this host ([fleet].host): a bridge to itself")
    elif peer not in peer_map:
        c.error(f"{where}.peer", f"no [[peers]] entry named {cv.show(peer)}; known: "
                f"{', '.join(sorted(peer_map)) or 'none'}")
    if not params.get("port"):
        c.error(f"{where}.port", "missing: the TCP port the receiver binds")
    if engine.entry in BUS_ENTRIES:
        return
    sender = engine.entry == SENDER_ENTRY
    mine = [r for r in rings.values()
            if (engine.name in r.readers if sender else r.writer == engine.name)]
    role = "reader" if sender else "writer"
    if len(mine) != 1:
        c.error(cv.key_path("engines", engine.name), f"a ring bridge is the {role} of exactly "
                f"one ring, found {len(mine)}: {cv.show([r.name for r in mine])}")
        return
    record = params.get("record")
    if record is not None and record != mine[0].record:
        c.error(f"{where}.record", f"{cv.show(record)} differs from ring "
                f"{mine[0].name!r}'s record {mine[0].record!r}: the bridged ring's schema must "
                f"match on both hosts")
