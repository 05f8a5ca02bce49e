"""Where an instance keeps its runtime files and how its segments and sockets are named.

One place decides these names so that nautilusd, engines and nautilusctl always agree.
"""

from __future__ import annotations

import os
from pathlib import Path

SEGMENT_PREFIX = "nautilusd"


def default_runtime_dir(instance: str) -> Path:
    """$XDG_RUNTIME_DIR/nautilusd/<instance>, /run/nautilusd/<instance> as root, else /tmp."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return Path(xdg) / "nautilusd" / instance
    if os.geteuid() == 0:
        return Path("/run/nautilusd") / instance
    return Path(f"/tmp/nautilusd-{os.geteuid()}") / instance


def control_endpoint(runtime_dir: Path) -> str:
    return f"ipc://{runtime_dir}/control.sock"


def bus_pub_endpoint(runtime_dir: Path) -> str:
    """Engines connect PUB sockets here (the proxy's XSUB side)."""
    return f"ipc://{runtime_dir}/bus-in.sock"


def bus_sub_endpoint(runtime_dir: Path) -> str:
    """Engines connect SUB sockets here (the proxy's XPUB side)."""
    return f"ipc://{runtime_dir}/bus-out.sock"


def segment_prefix(instance: str) -> str:
    """Every segment of an instance starts with this (used to reclaim a crashed instance's)."""
    return f"{SEGMENT_PREFIX}.{instance}."


def ring_segment(instance: str, ring: str) -> str:
    return f"{segment_prefix(instance)}ring.{ring}"


def status_segment(instance: str) -> str:
    return f"{segment_prefix(instance)}status"
