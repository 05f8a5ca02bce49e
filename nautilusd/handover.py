"""The handover document of a re-execution (nautilusd.reexec): written by the image that
execs, read by the new one before anything heavy is imported.

JSON in an inheritable memfd named by $NAUTILUSD_HANDOVER_FD; every other inherited fd is
listed in $NAUTILUSD_INHERITED_FDS. Stdlib only: the new image reads it first thing, so its
control socket can be answering while the rest of nautilusd is still being imported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from nautilusd.errors import NautilusdError

HANDOVER_ENV = "NAUTILUSD_HANDOVER_FD"
FDS_ENV = "NAUTILUSD_INHERITED_FDS"  # every fd handed over, apart from the JSON: closed
# whatever the JSON says, so a corrupt handover can still take the engines down cleanly
FORMAT = 1  # bumped whenever the handover's shape changes: an older image refuses a newer one
MAX_HANDOVER_BYTES = 4 << 20


class HandoverError(NautilusdError):
    """A re-execution refused before the exec, or a handover the new image cannot adopt;
    `fds` are the inherited descriptors the refusing image must close."""

    def __init__(self, message: str, fds: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.fds = fds


def write_handover(doc: Mapping[str, Any]) -> int:
    """The handover as JSON in an inheritable memfd; returns its fd."""
    data = json.dumps({"format": FORMAT, **doc}).encode()
    fd = os.memfd_create("nautilusd-handover", 0)  # no MFD_CLOEXEC: it crosses the exec
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def take_handover(environ: dict[str, str] | os._Environ[str] = os.environ) -> dict[str, Any] | None:
    """The handover this image was started with, or None (a plain start). The variable is
    removed so engines never see it. Raises HandoverError when it cannot be read or is of
    another format; the fds it names are in the error's `fds` for the caller to close."""
    raw = environ.pop(HANDOVER_ENV, None)
    fds = tuple(int(f) for f in environ.pop(FDS_ENV, "").split(",") if f.isdigit())
    if raw is None:
        return None
    try:
        fd = int(raw)
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_HANDOVER_BYTES + 1)
        doc = json.loads(data)
    except (ValueError, OSError) as exc:
        raise HandoverError(f"handover in ${HANDOVER_ENV}={raw!r} unreadable: {exc}",
                            fds) from None
    if not isinstance(doc, dict):
        raise HandoverError(f"handover in ${HANDOVER_ENV} is not a map: {type(doc).__name__}",
                            fds)
    if doc.get("format") != FORMAT:
        raise HandoverError(f"handover format {doc.get('format')!r}, this nautilusd reads "
                            f"format {FORMAT}", fds)
    doc["fds"] = list(fds)
    return doc


def exec_environment(handover_fd: int, fds: list[int]) -> dict[str, str]:
    """The variables that tell the new image where its handover is."""
    return {HANDOVER_ENV: str(handover_fd), FDS_ENV: ",".join(map(str, fds))}
