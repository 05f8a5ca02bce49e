"""Errors raised by the shared-memory layer.

Every error names the segment and the offending value so an operator can act on it.
"""

from __future__ import annotations


class ShmError(Exception):
    """Base class for every error raised by `shm`."""


class SegmentExistsError(ShmError):
    """A segment of that name exists and its owner is alive."""


class SegmentNotFoundError(ShmError):
    """No segment of that name exists in the directory."""


class AttachError(ShmError):
    """A segment exists but does not match what the attaching party expects."""

    def __init__(self, segment: str, field: str, expected: object, found: object) -> None:
        self.segment = segment
        self.field = field
        self.expected = expected
        self.found = found
        super().__init__(
            f"cannot attach segment {segment!r}: {field} mismatch "
            f"(expected {expected!r}, found {found!r})"
        )


class UnsafeFileError(ShmError):
    """A segment, doorbell or directory at one of our names is not ours alone (another
    owner, a mode open to others, a symlink, extra links, a wrong file type): refused."""

    def __init__(self, path: object, reason: str, found: str) -> None:
        self.path = str(path)
        self.reason = reason
        self.found = found
        super().__init__(f"refusing {self.path}: {reason} ({found})")


class EpochChangedError(ShmError):
    """The segment was re-initialised after this party attached; re-attach."""


class RingFullError(ShmError):
    """A `block` ring stayed full past its timeout: a reader is not keeping up. `published`
    says how many records of the failed call were published before it gave up (a
    multi-chunk `write()`: those are readable and must not be written again)."""

    def __init__(self, message: str, published: int = 0) -> None:
        super().__init__(message)
        self.published = published


class ReaderSlotError(ShmError):
    """A reader slot is out of range, already taken by a live process, or not joined."""


class UnsupportedPlatformError(ShmError):
    """The memory-ordering assumptions of the rings do not hold on this machine."""
