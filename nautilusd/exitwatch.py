"""Engine exits seen in the daemon's own poller, through one pidfd per engine process.

pidfd_open works for any process the daemon may signal, child or not; the fd turns readable
the moment the process has exited, before anyone reaps it. The forkserver stays the reaper
and its "exited" report stays the fallback: a zombie's exit status is read here from
/proc/<pid>/stat only when it is a nonzero status of that very process (start time checked).
A zero there is not taken: the kernel shows 0 to a reader without ptrace access (an engine
that changed user), so a clean exit waits for the reaper's word instead of being guessed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

# Fields of /proc/<pid>/stat after the command's closing parenthesis, 0-based: field n of
# proc(5) is index n - 3 there.
_STATE, _START_TICKS, _EXIT_CODE = 0, 19, 49

ExitSeen = Callable[[int, int], None]  # (pid, exit code >= 0 or -signal)


class Poller(Protocol):
    """The part of the event loop an ExitWatch uses."""

    def add_reader(self, pollable: int, callback: Callable[[], object]) -> None: ...
    def remove_reader(self, pollable: int) -> None: ...


@dataclass(frozen=True, slots=True)
class ZombieStat:
    """What /proc/<pid>/stat says of a process: state letter, start ticks, raw exit status."""

    state: str
    start_ticks: int
    wait_status: int


def read_stat(pid: int, proc: str = "/proc") -> ZombieStat | None:
    """The state, start time and raw exit status of `pid`, or None once it is gone."""
    try:
        with open(f"{proc}/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rfind(b")") + 2 :].split()
    try:
        return ZombieStat(fields[_STATE].decode(), int(fields[_START_TICKS]),
                          int(fields[_EXIT_CODE]))
    except (IndexError, ValueError):
        return None


def exit_code_of(stat: ZombieStat | None, start_ticks: int) -> int | None:
    """The exit code (>= 0, or -signal) a dead process `stat` reports, if it can be trusted:
    it is a zombie, the one started at `start_ticks`, and its status is nonzero."""
    if stat is None or stat.state not in ("Z", "X") or stat.start_ticks != start_ticks:
        return None
    if stat.wait_status == 0:
        return None
    return os.waitstatus_to_exitcode(stat.wait_status)


class ExitWatch:
    """`watch(pid)` after each spawn; `on_exit(pid, code)` runs once its exit is seen here."""

    def __init__(self, loop: Poller, on_exit: ExitSeen, proc: str = "/proc") -> None:
        self.loop = loop
        self.on_exit = on_exit
        self.proc = proc
        self._fds: dict[int, tuple[int, int]] = {}  # pid -> (pidfd, start ticks)

    def watch(self, pid: int) -> bool:
        """Watch `pid`; False when it cannot be (already gone: the reaper will report it)."""
        try:
            fd = os.pidfd_open(pid)
        except (ProcessLookupError, OSError):
            return False
        stat = read_stat(pid, self.proc)
        if stat is None:
            os.close(fd)
            return False
        self._fds[pid] = (fd, stat.start_ticks)
        self.loop.add_reader(fd, lambda: self._readable(pid))
        return True

    def _readable(self, pid: int) -> None:
        entry = self._fds.get(pid)
        if entry is None:
            return
        code = exit_code_of(read_stat(pid, self.proc), entry[1])
        self.forget(pid)  # readable for good now: watch no more, whatever was read
        if code is not None:
            self.on_exit(pid, code)

    def forget(self, pid: int) -> None:
        """Stop watching `pid` (its exit was reported another way)."""
        entry = self._fds.pop(pid, None)
        if entry is not None:
            self.loop.remove_reader(entry[0])
            os.close(entry[0])

    def watching(self) -> list[int]:
        return sorted(self._fds)

    def close(self) -> None:
        for pid in list(self._fds):
            self.forget(pid)
