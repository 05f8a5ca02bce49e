"""The bridge's wire format: one header frame (and, for data, one frame of record bytes).

Positions are the sender's ring positions (the ring's own sequence numbers, end to end) within
one stream (one incarnation of the sender's ring, named by `stream`); every message is small
and fixed-size except DATA's payload, which is the records' bytes.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Final

VERSION: Final = 2
# version, kind, flags, pad, first, count, fingerprint, stream
_HEADER: Final = struct.Struct("<BBBxqqqq")
HEADER_BYTES: Final = _HEADER.size

# DATA: the first batch after a HELLO, the receiver starts here; HEARTBEAT: a sender not
# started yet (or restarted) asks for a HELLO
FLAG_START: Final = 1


class Kind(enum.IntEnum):
    """What a message says. DATA goes sender -> receiver; the others mostly back."""

    DATA = 1  # records [first, first + count); payload = their bytes
    HEARTBEAT = 2  # sender -> receiver: alive, published up to `first`
    HELLO = 3  # receiver -> sender: (re)start me at `first` of `stream` (-1: where you are);
    #            fingerprint/count = record layout, size
    ACK = 4  # receiver -> sender: written everything below `first`
    NACK = 5  # receiver -> sender: gap, resend from `first`
    LOST = 6  # sender -> receiver: [first, first + count) is gone from the ring
    REFUSE = 7  # sender -> receiver: the layouts differ (fingerprint = the sender's)


@dataclass(frozen=True, slots=True)
class Header:
    kind: Kind
    flags: int = 0
    first: int = 0
    count: int = 0
    fingerprint: int = 0
    stream: int = 0  # DATA: the sender's stream; HELLO: the stream `first` belongs to

    def pack(self) -> bytes:
        return _HEADER.pack(VERSION, self.kind, self.flags, self.first, self.count,
                            self.fingerprint, self.stream)


class WireError(ValueError):
    """A frame that is not a bridge header of this version."""


def pack(kind: Kind, first: int = 0, count: int = 0, fingerprint: int = 0,
         flags: int = 0, stream: int = 0) -> bytes:
    return _HEADER.pack(VERSION, kind, flags, first, count, fingerprint, stream)


def unpack(frame: bytes | memoryview) -> Header:
    """The header in `frame`, or WireError naming what is wrong with it."""
    if len(frame) != HEADER_BYTES:
        raise WireError(f"bridge header of {len(frame)} bytes, expected {HEADER_BYTES}")
    version, kind, flags, first, count, fp, stream = _HEADER.unpack(frame)
    if version != VERSION:
        raise WireError(f"bridge wire version {version}, expected {VERSION}")
    try:
        return Header(Kind(kind), flags, first, count, fp, stream)
    except ValueError:
        raise WireError(f"unknown bridge message kind {kind}") from None
