"""Where an instance keeps its runtime files and how its segments and sockets are named.

One place decides these names so that nautilusd, engines and nautilusctl always agree.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

SEGMENT_PREFIX = "nautilusd"
# A run's tag for the scratch names of benchmarks and chaos (segments, dirs, instances): the
# test session sets it, so its leftover check also finds what the runs it started left.
RUN_TAG_ENV = "NAUTILUSD_RUN_TAG"
_RUN_TAG = re.compile(r"[0-9a-z]{1,16}")


def scratch_id(length: int = 8) -> str:
    """A fresh id for scratch names, `<tag>x<hex>` under $NAUTILUSD_RUN_TAG, else `<hex>`."""
    tag = os.environ.get(RUN_TAG_ENV, "")
    fresh = uuid.uuid4().hex[:length]
    return f"{tag}x{fresh}" if _RUN_TAG.fullmatch(tag) else fresh


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


def log_file(runtime_dir: Path) -> Path:
    """Where nautilusd writes its and its engines' log lines when stdout is a terminal."""
    return runtime_dir / "nautilusd.log"


def ready_bell(runtime_dir: Path) -> Path:
    """The FIFO an engine writes one byte to once it set its ready flag (nautilusd reads it)."""
    return runtime_dir / "ready.bell"


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
