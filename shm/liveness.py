"""Whether a recorded process still runs: pid plus start time, read from /proc/<pid>/stat.

A zombie (exited, not yet reaped) or a dying process counts as dead: its ring slots and
segments are free the moment it exits, not when its parent gets round to reaping it.
"""

from __future__ import annotations

_DEAD_STATES = frozenset(b"ZXx")  # zombie, dead (both spellings the kernel has used)


def _stat_fields(pid: int) -> list[bytes] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(b")") + 2 :].split()


def process_start_ticks(pid: int) -> int:
    """Start time of `pid` in clock ticks since boot (0 if the process does not exist)."""
    fields = _stat_fields(pid)
    return 0 if fields is None else int(fields[19])


def process_alive(pid: int, start_ticks: int) -> bool:
    """True if `pid` runs (not a zombie) and is the same process (same start time) as
    recorded; a `start_ticks` of 0 accepts any process with that pid."""
    if pid <= 0:
        return False
    fields = _stat_fields(pid)
    if fields is None or fields[0][0] in _DEAD_STATES:
        return False
    return start_ticks == 0 or int(fields[19]) == start_ticks
