"""Adopted orphans: what a subreaper (the forkserver, nautilusd, or nautilusd as PID 1) inherits.

When an engine dies before its own children (an exec'd program's), the kernel hands them to
the nearest subreaper above them instead of init. This module lists a process's children,
kills and reaps the ones nobody spawned on purpose, and drains a whole subtree at shutdown.
Standard library only: the forkserver imports it before its preloads.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import time
from collections.abc import Container, Iterable
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
# An engine's address-space holder (nautilusd/_mmhold.c, PR_SET_NAME): it outlives the engine
# by 50 ms on purpose (the memory teardown is paid off the respawn) and exits by itself, so a
# sweep reaps it and never kills it early; a drain at the end kills it with the rest.
HOLDER_NAME = "nautilusd-mm"

_libc = ctypes.CDLL(None, use_errno=True)


def become_subreaper() -> None:
    """Orphans below this process come to it, not to init (prctl PR_SET_CHILD_SUBREAPER)."""
    if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def children(pid: int | None = None, proc: str = "/proc") -> list[int]:
    """The direct children of `pid` (this process), live or zombie, from
    /proc/<pid>/task/*/children; a scan of every /proc/<n>/stat where that file is absent."""
    # /proc/self, not /proc/<getpid()>: in a pid namespace whose /proc is the host's (no
    # remount), our own pid there names another process.
    found: set[int] = set()
    tasks = Path(proc, "self" if pid is None else str(pid), "task")
    try:
        for task in tasks.iterdir():
            found.update(int(c) for c in (task / "children").read_text().split())
        return sorted(found)
    except FileNotFoundError:  # a kernel without CONFIG_PROC_CHILDREN (or pid is gone)
        pass
    except OSError:
        return []
    parent = os.getpid() if pid is None else pid
    for entry in Path(proc).iterdir():
        if entry.name.isdigit() and _ppid(entry / "stat") == parent:
            found.add(int(entry.name))
    return sorted(found)


def _ppid(stat_path: Path) -> int | None:
    try:
        text = stat_path.read_bytes()
    except OSError:
        return None
    fields = text[text.rfind(b")") + 2 :].split()
    return int(fields[1]) if len(fields) > 1 else None


def kill_tree_of(pid: int) -> None:
    """SIGKILL `pid` and the process group it leads (what it started, unless they moved)."""
    if pid <= 0:  # kill(0)/killpg(0) would reach the caller's own group
        return
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


def reap(pid: int) -> int | None:
    """Reap `pid` if it has exited: its exit code (>= 0 or -signal), else None."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(status) if done else None


def _name(pid: int, proc: str = "/proc") -> str:
    try:
        return Path(proc, str(pid), "comm").read_text().strip()
    except OSError:
        return ""


def sweep(known: Container[int], kill: bool = True) -> list[int]:
    """Reap every exited child of this process not in `known` and, with `kill`, SIGKILL the
    live ones first (their exits arrive as SIGCHLD for the next sweep), address-space holders
    excepted; the pids it killed."""
    killed = []
    for pid in children():
        if pid in known:
            continue
        if reap(pid) is None and kill and _name(pid) != HOLDER_NAME:
            kill_tree_of(pid)
            reap(pid)
            killed.append(pid)
    return killed


def drain(groups: Iterable[int], wake_fd: int, timeout_s: float = 5.0) -> bool:
    """At the end of a subreaper's life: SIGKILL every group in `groups`, then every child
    this process has or inherits while they die, reaping all, until it has none. `wake_fd`
    turns readable on SIGCHLD (signal.set_wakeup_fd). False if children remain at the end."""
    for pid in groups:
        kill_tree_of(pid)
    deadline = time.monotonic() + timeout_s
    while True:
        for pid in children():
            kill_tree_of(pid)
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return True  # nothing left below us: every orphan came and went
            if pid == 0:
                break
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        readable, _, _ = select.select([wake_fd], [], [], min(left, 0.05))
        if readable:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_fd, 512)
