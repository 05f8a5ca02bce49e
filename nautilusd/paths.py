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


def default_state_dir(instance: str) -> Path:
    """Where an instance keeps what must survive every stop ([supervisor].state_dir unset):
    $STATE_DIRECTORY (systemd's StateDirectory=), else $XDG_STATE_HOME/nautilusd/<instance>,
    else /var/lib/nautilusd/<instance> as root, else ~/.local/state/nautilusd/<instance>."""
    systemd = os.environ.get("STATE_DIRECTORY")
    if systemd:
        return Path(systemd.split(":")[0])
    xdg = os.environ.get("XDG_STATE_HOME")
    if xdg:
        return Path(xdg) / "nautilusd" / instance
    if os.geteuid() == 0:
        return Path("/var/lib/nautilusd") / instance
    return Path.home() / ".local" / "state" / "nautilusd" / instance


def default_shm_dir() -> Path:
    """/dev/shm/nautilusd-<euid>: a directory only we can enter (created 0700 at start and
    refused if someone else made it), so segment names cannot be planted or raced."""
    return Path(f"/dev/shm/{SEGMENT_PREFIX}-{os.geteuid()}")


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
