"""Bus bridge loop prevention: a payload marked `_via` is never forwarded again."""

from __future__ import annotations

import msgpack

from engines.bridge.bus import VIA, _came_through_a_bridge


def test_came_through_a_bridge_when_marked_via_is_true_and_plain_payloads_are_false() -> None:
    """Only a map carrying the _via key counts; a value that merely mentions it does not."""
    pack = msgpack.packb
    assert _came_through_a_bridge(pack({"engine": "risk", VIA: ["a"]}))
    assert not _came_through_a_bridge(pack({"engine": "risk"}))
    assert not _came_through_a_bridge(pack({"note": VIA}))
    assert not _came_through_a_bridge(pack([VIA]))
    assert not _came_through_a_bridge(b"\xc1" + VIA.encode())  # undecodable
