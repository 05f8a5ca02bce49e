"""The daemon's listening sockets (control, bus) as file descriptors it owns, so they outlive
an exec of nautilusd: ZeroMQ accepts on a dup (ZMQ_USE_FD), the original is handed over.

While nautilusd re-executes itself the kernel keeps the socket listening: a client connecting
then waits in the backlog and is served by the new image, instead of finding no listener.
Only ipc:// endpoints are kept this way; any other endpoint is bound by ZeroMQ as before.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import zmq

BACKLOG = 512


def ipc_path(endpoint: str) -> Path | None:
    return Path(endpoint[len("ipc://"):]) if endpoint.startswith("ipc://") else None


class Listeners:
    """endpoint -> the listening fd this process owns; `inherited` are a predecessor's."""

    def __init__(self, inherited: Mapping[str, int] | None = None) -> None:
        self._fds: dict[str, int] = {}
        self._inherited = dict(inherited or {})

    def bind(self, sock: zmq.Socket[Any], endpoint: str) -> None:
        """Bind `sock` at `endpoint`, on the listening fd kept for it (made now, or taken
        from the predecessor) when it is an ipc:// endpoint. Call under the caller's umask."""
        path = ipc_path(endpoint)
        if path is None:
            sock.bind(endpoint)
            return
        fd = self._fds.pop(endpoint, None)  # bound again (an exec failed)
        if fd is None:
            fd = self._inherited.pop(endpoint, None)
        if fd is None or not _listening_at(fd, path):
            if fd is not None:
                os.close(fd)
            fd = _listen(path)
        else:
            os.set_inheritable(fd, False)
        duplicate = os.dup(fd)
        try:
            sock.setsockopt(zmq.USE_FD, duplicate)  # libzmq closes the dup with the socket
            sock.bind(endpoint)
        except zmq.ZMQError:
            os.close(duplicate)
            os.close(fd)
            raise
        self._fds[endpoint] = fd

    def inherits(self, endpoint: str) -> bool:
        """True while the predecessor's fd for `endpoint` is here, not taken up yet."""
        return endpoint in self._inherited

    def for_exec(self) -> dict[str, int]:
        """Every kept fd, made inheritable for an exec of this process."""
        for fd in self._fds.values():
            os.set_inheritable(fd, True)
        return dict(self._fds)

    def close(self) -> None:
        """Close the kept fds and whatever inherited fd was not taken up."""
        for fd in [*self._fds.values(), *self._inherited.values()]:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
        self._inherited.clear()


def _listen(path: Path) -> int:
    with contextlib.suppress(FileNotFoundError):
        if path.is_socket():
            path.unlink()  # a dead predecessor's: connect() there is refused
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.bind(str(path))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock.detach()


def _listening_at(fd: int, path: Path) -> bool:
    """True if `fd` is a listening AF_UNIX socket bound at `path`."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return False
    with sock:
        try:
            return (sock.family == socket.AF_UNIX and sock.getsockname() == str(path)
                    and bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)))
        except OSError:
            return False
