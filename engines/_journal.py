"""The journald native protocol: field encoding and the datagram sink with its memfd path.

One log entry is one datagram to journald's socket; an entry too large for a datagram goes
in a sealed memfd passed with SCM_RIGHTS, as journald requires. Sending never raises.
"""

from __future__ import annotations

import array
import errno
import fcntl
import os
import re
import socket
import struct
from collections.abc import Iterable

DEFAULT_JOURNAL_SOCKET = "/run/systemd/journal/socket"
SOCKET_ENV = "NAUTILUSD_JOURNAL_SOCKET"
FIELD_NAME_MAX = 64  # journald drops fields with longer names
_INVALID_CHARS = re.compile(r"[^A-Z0-9_]")
_SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL
# Errors that mean "this datagram is too big": journald wants the memfd path then.
_TOO_BIG = frozenset({errno.EMSGSIZE, errno.ENOBUFS})


def field_name(key: str) -> str:
    """`key` upper-cased and made a valid journald field name (A-Z, 0-9, _; no leading _/digit)."""
    name = _INVALID_CHARS.sub("_", key.upper()).lstrip("_")
    if not name:
        return "FIELD"
    if name[0].isdigit():
        name = "F_" + name
    return name[:FIELD_NAME_MAX]


def encode_field(name: str, value: str | bytes) -> bytes:
    """One field in the native format: `NAME=value\\n`, or length-prefixed when multi-line."""
    data = value.encode("utf-8", "replace") if isinstance(value, str) else value
    key = name.encode("ascii")
    if b"\n" in data:
        return key + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
    return key + b"=" + data + b"\n"


def encode_entry(fields: Iterable[tuple[str, str | bytes]]) -> bytes:
    return b"".join(encode_field(name, value) for name, value in fields)


def socket_path_from_env(explicit: str | None = None) -> str | None:
    """The configured journal socket: `explicit`, else $NAUTILUSD_JOURNAL_SOCKET, else None."""
    return explicit or os.environ.get(SOCKET_ENV) or None


class JournalSink:
    """Sends encoded entries to one journald socket; counts what it sent and what it could not.

    `send` returns False instead of raising when the journal is gone or refuses the entry, so
    the caller can fall back (the logger writes the record to stdout and counts it).
    """

    def __init__(self, path: str = DEFAULT_JOURNAL_SOCKET) -> None:
        self.path = path
        self.sent = 0
        self.sent_memfd = 0
        self.failed = 0
        self._sock: socket.socket | None = None
        self._pid = 0

    def send(self, payload: bytes) -> bool:
        # No lock: a lock held across fork() would deadlock a forked engine; the socket
        # calls are thread-safe and the counters are statistics, not accounting.
        try:
            self._send(payload)
        except OSError:
            self.failed += 1
            self._drop_socket()
            return False
        self.sent += 1
        return True

    def _send(self, payload: bytes) -> None:
        sock = self._socket()
        try:
            sock.sendto(payload, socket.MSG_DONTWAIT, self.path)
        except OSError as exc:
            if exc.errno not in _TOO_BIG:
                raise
            self._send_memfd(sock, payload)

    def _send_memfd(self, sock: socket.socket, payload: bytes) -> None:
        fd = os.memfd_create("nautilusd-journal", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
            rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))]
            sock.sendmsg([], rights, socket.MSG_DONTWAIT, self.path)
        finally:
            os.close(fd)
        self.sent_memfd += 1

    def _socket(self) -> socket.socket:
        # A forked child must not share the parent's socket object state: open its own.
        if self._sock is None or self._pid != os.getpid():
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._pid = os.getpid()
        return self._sock

    def _drop_socket(self) -> None:
        if self._sock is not None and self._pid == os.getpid():
            self._sock.close()
        self._sock = None

    def close(self) -> None:
        self._drop_socket()

    def stats(self) -> dict[str, int]:
        return {"sent": self.sent, "sent_memfd": self.sent_memfd, "failed": self.failed}
