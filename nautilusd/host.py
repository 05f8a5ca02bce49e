"""Every OS side effect of the supervisor behind one object: spawn, signal, reap, pin, measure.

`RealHost` forks engines from the preloaded forkserver and sees each exit first through the
engine's own pidfd in the event loop (nautilusd.exitwatch); the forkserver, the reaper,
reports every exit on its socket too, which covers what a pidfd cannot tell. Tests substitute
a fake with the same methods to drive the supervisor's logic without processes.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import psutil

from engines.runner import LaunchSpec
from engines.spare import Warmup
from nautilusd import orphans
from nautilusd.errors import PinError, SpawnError
from nautilusd.exitwatch import ExitWatch, read_stat
from nautilusd.forkserver import MAX_MESSAGE_BYTES
from nautilusd.loop import EventLoop, Timer

ExitCallback = Callable[[int], None]  # exit code >= 0, or -signal
ENGINES_GONE_TIMEOUT_S = 1.0  # after a forkserver death: its engines' SIGKILLs take effect


class Host(Protocol):
    """What the supervisor needs from the operating system."""

    def now(self) -> float: ...
    def monotonic_ns(self) -> int: ...
    def spawn(self, spec: LaunchSpec, on_exit: ExitCallback) -> int: ...
    def code_version(self, pid: int) -> str | None: ...
    @property
    def generation(self) -> int: ...
    def new_generation(self, on_ready: Callable[[int], object],
                       on_failed: Callable[[str], object]) -> int: ...
    def pin_generation(self, name: str, generation: int | None) -> None: ...
    def generation_of(self, pid: int) -> int | None: ...
    def retired_generations(self) -> list[int]: ...
    def adopt_process(self, pid: int, start_ticks: int, version: str | None,
                      on_exit: ExitCallback) -> bool: ...
    def signal(self, pid: int, sig: int) -> bool: ...
    def rss_bytes(self, pid: int) -> int | None: ...
    def affinity(self, pid: int) -> list[int]: ...
    def pin(self, pid: int, cpus: Iterable[int]) -> list[int]: ...
    def host_cpus(self) -> list[int]: ...
    def close(self) -> None: ...


class RealHost:
    """Processes forked by a forkserver child of this process; exits arrive on its socket."""

    def __init__(self, loop: EventLoop, preload: Iterable[str] = (),
                 spawn_timeout_s: float = 30.0, spares: int = 1,
                 warmup: Warmup | None = None, kill_orphans: bool = True) -> None:
        self.loop = loop
        self.kill_orphans = kill_orphans
        self.warmup = warmup  # what spares prepare before they are claimed
        self.spares = spares  # pre-forked children kept ready by the forkserver
        self.preload = tuple(preload)
        self.spawn_timeout_s = spawn_timeout_s
        self._on_exit: dict[int, ExitCallback] = {}
        self._versions: dict[int, str] = {}  # pid -> code version its forkserver reported
        self._backlog: list[tuple[object, ...]] = []
        self._server: subprocess.Popen[bytes] | AdoptedChild | None = None
        self._sock: socket.socket | None = None
        self._pidfd = -1
        self._closing = False
        self.exits = ExitWatch(loop, self._exited)
        # Upgrades (nautilusd.upgrade): the current forkserver is generation `generation`;
        # earlier ones serve their engines until none is left, then are closed.
        self.generation = 0
        self._retired: list[Retired] = []
        self._generation_of: dict[int, int] = {}  # engine pid -> forkserver generation
        self._pinned: dict[str, int] = {}  # engine instance -> generation it spawns on
        self._starting: Starting | None = None  # the next generation, before its hello

    def now(self) -> float:
        return self.loop.now()

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    # -- the forkserver -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the forkserver and wait until it has preloaded its modules."""
        self._server, self._sock = self._launch()
        _check_hello(self._recv(self.spawn_timeout_s))
        self._serve_from(self._server, self._sock)

    def _launch(self) -> tuple[subprocess.Popen[bytes], socket.socket]:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "nautilusd.forkserver", str(theirs.fileno()),
                 str(os.getpid()), str(self.spares),
                 "" if self.warmup is None else self.warmup.to_json(), *self.preload],
                pass_fds=(theirs.fileno(),), start_new_session=True,
            )
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        return proc, ours

    def _serve_from(self, proc: subprocess.Popen[bytes], sock: socket.socket) -> None:
        """Spawn from the forkserver `proc` (its hello read) from now on."""
        self._server, self._sock = proc, sock
        sock.setblocking(False)
        self.loop.add_reader(sock, self._on_readable)
        self._pidfd = os.pidfd_open(proc.pid)
        self.loop.add_reader(self._pidfd, self._on_server_exit)

    def adopt(self, server_pid: int, sock_fd: int) -> None:
        """Take over the forkserver a predecessor image of this process started (the same
        pid after an exec): its socket `sock_fd` and its exit, through a new pidfd."""
        self._server = AdoptedChild(server_pid)
        self._sock = socket.socket(fileno=sock_fd)
        os.set_inheritable(sock_fd, False)
        self._sock.setblocking(False)
        self.loop.add_reader(self._sock, self._on_readable)
        self._pidfd = os.pidfd_open(server_pid)
        self.loop.add_reader(self._pidfd, self._on_server_exit)

    def adopt_process(self, pid: int, start_ticks: int, version: str | None,
                      on_exit: ExitCallback) -> bool:
        """Watch engine `pid`, spawned by the adopted forkserver before the exec; False when
        it is gone or is another process now (start time differs): nothing is watched."""
        found = read_stat(pid)
        if found is None or found.start_ticks != start_ticks or found.state in ("Z", "X"):
            return False
        self._on_exit[pid] = on_exit
        self._generation_of[pid] = self.generation  # the adopted forkserver's: else an
        # upgrade would find that generation idle and close it under its engines
        if version is not None:
            self._versions[pid] = version
        self.exits.watch(pid)
        return True

    def for_exec(self) -> tuple[int, int]:
        """(forkserver pid, its socket fd made inheritable) for an exec of this process."""
        if self._server is None or self._sock is None:
            raise SpawnError("forkserver", "the forkserver is not running")
        os.set_inheritable(self._sock.fileno(), True)
        return self._server.pid, self._sock.fileno()

    def _recv(self, timeout_s: float, sock: socket.socket | None = None) -> tuple[object, ...]:
        sock = sock or self._sock
        if sock is None:
            raise SpawnError("forkserver", "the forkserver is not running")
        ready, _, _ = select.select([sock], [], [], timeout_s)
        if not ready:
            raise SpawnError("forkserver", f"no answer within {timeout_s} s")
        data = sock.recv(MAX_MESSAGE_BYTES)
        if not data:
            raise SpawnError("forkserver", "the forkserver closed its socket")
        message: tuple[object, ...] = pickle.loads(data)
        return message

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:  # closed since the poll said readable
            return
        while True:
            try:
                data = sock.recv(MAX_MESSAGE_BYTES)
            except BlockingIOError:
                break
            if not data:
                break
            self._backlog.append(pickle.loads(data))
        self._dispatch_backlog()

    def _dispatch_backlog(self) -> None:
        backlog, self._backlog = self._backlog, []
        for message in backlog:
            if message[0] == "exited":
                self._exited(*_ints(message, 2))

    def _exited(self, pid: int, code: int) -> None:
        """The first report of `pid`'s exit (its pidfd or the reaper's) reaches the supervisor;
        the other one finds nothing left to do."""
        self.exits.forget(pid)
        self._versions.pop(pid, None)
        self._generation_of.pop(pid, None)
        callback = self._on_exit.pop(pid, None)
        if callback is not None:
            callback(code)
        if self._retired:
            self.loop.call_later(0, self._close_idle)

    def _on_server_exit(self) -> None:
        # The forkserver's children died with it (parent-death signal): report them all.
        if self._server is None or self._server.poll() is None:
            # Not an exit: the new server's pidfd reused the old fd number and the poll
            # batch that reported the old one is still being dispatched.
            return
        self.loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        if self._sock is not None:
            self.loop.remove_reader(self._sock)
            self._sock.close()
            self._sock = None
        if self._server is not None:
            self._server.wait()
        callbacks = {pid: cb for pid, cb in self._on_exit.items()
                     if self._generation_of.get(pid, self.generation) == self.generation}
        for pid in callbacks:
            del self._on_exit[pid]
            self._versions.pop(pid, None)
        for pid in callbacks:  # each engine's group: whatever a parent-death signal missed
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        self.exits.close()
        # The engines came to nautilusd (a subreaper) and are dying: once they are dead,
        # their children that left their groups are ours too, and go before a new start.
        _await_exits(callbacks, ENGINES_GONE_TIMEOUT_S)
        self.sweep_orphans()
        if not self._closing:
            self.start()  # before the reports: their restarts need a forkserver to spawn
        for callback in callbacks.values():
            callback(-signal.SIGKILL)

    # -- processes ----------------------------------------------------------------------------

    def spawn(self, spec: LaunchSpec, on_exit: ExitCallback) -> int:
        """Fork engine `spec.name`; returns its pid; `on_exit(code)` runs when it is reaped."""
        generation, sock = self._server_for(spec.name)
        if sock is None:
            raise SpawnError(spec.name, "the forkserver is not running")
        sock.setblocking(True)
        try:
            try:
                sock.send(pickle.dumps(("spawn", spec)))
            except OSError as exc:  # e.g. EMSGSIZE: a spec too big for one message
                raise SpawnError(spec.name, f"cannot send its spec to the forkserver: {exc}"
                                 ) from None
            while True:
                message = self._recv(self.spawn_timeout_s, sock)
                if message[0] == "spawned":
                    break
                self._backlog.append(message)
        finally:
            sock.setblocking(False)
        (pid,) = _ints(message, 1)
        self._on_exit[pid] = on_exit
        self._generation_of[pid] = generation
        version = message[3] if len(message) > 3 else None
        if isinstance(version, str):
            self._versions[pid] = version
        self.exits.watch(pid)
        if self._backlog:
            self.loop.call_later(0, self._dispatch_backlog)
        return pid

    # -- forkserver generations (upgrades) ------------------------------------------------------

    def new_generation(self, on_ready: Callable[[int], object],
                       on_failed: Callable[[str], object]) -> int:
        """Start a new forkserver, which imports the engine code now on disk; returns the
        generation it will be. Its hello is awaited in the loop (the import takes seconds on
        a loaded host; supervision and control go on meanwhile, spawning from the current
        forkserver): then it serves every spawn, the current one serves its engines until
        none is left, and `on_ready(generation)`. If it dies, says something else first or
        is silent for spawn_timeout_s, it is killed and `on_failed(reason)`: nothing else
        changed. Raises SpawnError when it cannot even be started."""
        if self._server is None or self._sock is None:
            raise SpawnError("forkserver", "the forkserver is not running")
        if self._starting is not None:
            raise SpawnError("forkserver", "a new forkserver generation is already starting")
        proc, sock = self._launch()
        starting = Starting(proc, sock, on_ready, on_failed)
        sock.setblocking(False)
        self.loop.add_reader(sock, lambda: self._on_hello(starting))
        starting.timer = self.loop.call_later(self.spawn_timeout_s, lambda: self._hello_failed(
            starting, f"no answer within {self.spawn_timeout_s} s"))
        self._starting = starting
        return self.generation + 1

    def _on_hello(self, starting: Starting) -> None:
        try:
            data = starting.sock.recv(MAX_MESSAGE_BYTES)
        except BlockingIOError:
            return
        except OSError as exc:
            self._hello_failed(starting, f"its socket failed: {exc}")
            return
        try:
            _check_hello(pickle.loads(data) if data else ("closed",))
        except (SpawnError, pickle.UnpicklingError, EOFError, IndexError, TypeError) as exc:
            self._hello_failed(starting, "it closed its socket before its hello" if not data
                               else str(exc))
            return
        self._end_starting(starting)
        if self._server is None or self._sock is None:  # closed meanwhile
            starting.proc.kill()
            starting.proc.wait()
            starting.sock.close()
            return
        old = Retired(self.generation, self._server, self._sock, self._pidfd)
        self.loop.remove_reader(old.sock)
        self.loop.remove_reader(old.pidfd)
        self.loop.add_reader(old.sock, lambda: self._on_retired_readable(old))
        self.loop.add_reader(old.pidfd, lambda: self._on_retired_exit(old))
        self._retired.append(old)
        self._serve_from(starting.proc, starting.sock)
        self.generation += 1
        self.loop.call_later(0, self._close_idle)
        starting.on_ready(self.generation)

    def _hello_failed(self, starting: Starting, reason: str) -> None:
        if self._starting is not starting:
            return
        self._end_starting(starting)
        starting.sock.close()
        starting.proc.kill()
        starting.proc.wait()
        starting.on_failed(f"the new forkserver generation did not start: {reason}")

    def _end_starting(self, starting: Starting) -> None:
        self._starting = None
        self.loop.remove_reader(starting.sock)
        if starting.timer is not None:
            starting.timer.cancel()

    def pin_generation(self, name: str, generation: int | None) -> None:
        """Spawn instance `name` on forkserver `generation` (a rollback to the code it ran
        before), or on the newest again with None."""
        if generation is None or generation == self.generation:
            self._pinned.pop(name, None)
        else:
            self._pinned[name] = generation

    def generation_of(self, pid: int) -> int | None:
        return self._generation_of.get(pid)

    def retired_generations(self) -> list[int]:
        return [r.generation for r in self._retired]

    def _server_for(self, name: str) -> tuple[int, socket.socket | None]:
        wanted = self._pinned.get(name)
        for retired in self._retired:
            if retired.generation == wanted:
                return retired.generation, retired.sock
        return self.generation, self._sock

    def _on_retired_readable(self, old: Retired) -> None:
        while True:
            try:
                data = old.sock.recv(MAX_MESSAGE_BYTES)
            except (BlockingIOError, OSError):
                break
            if not data:
                break
            self._backlog.append(pickle.loads(data))
        self._dispatch_backlog()

    def _on_retired_exit(self, old: Retired) -> None:
        """An earlier forkserver died: its engines died with it; report each."""
        if old.proc.poll() is None:
            return
        lost = {pid: cb for pid, cb in self._on_exit.items()
                if self._generation_of.get(pid) == old.generation}
        self._forget_retired(old)
        for pid, callback in lost.items():
            self._on_exit.pop(pid, None)
            self._generation_of.pop(pid, None)
            self.exits.forget(pid)
            callback(-signal.SIGKILL)

    def _close_idle(self) -> None:
        """Close every earlier forkserver no engine runs on and no instance is pinned to:
        seeing its socket close, it kills its spares and exits."""
        busy = set(self._generation_of.values()) | set(self._pinned.values())
        for old in [r for r in self._retired if r.generation not in busy]:
            self._forget_retired(old)
            try:
                old.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                old.proc.kill()
                old.proc.wait()

    def _forget_retired(self, old: Retired) -> None:
        if old in self._retired:
            self._retired.remove(old)
            self.loop.remove_reader(old.sock)
            self.loop.remove_reader(old.pidfd)
            old.sock.close()
            os.close(old.pidfd)

    def code_version(self, pid: int) -> str | None:
        """The code version (nautilusd.codeversion) the forkserver reported for `pid`."""
        return self._versions.get(pid)

    def signal(self, pid: int, sig: int) -> bool:
        """Signal the process group led by `pid` (engine and its children); False if gone.
        A pid <= 0 is never signalled: kill(0) or killpg(0) would reach nautilusd's own group."""
        if pid <= 0:
            return False
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return False
        return True

    def rss_bytes(self, pid: int) -> int | None:
        try:
            return int(psutil.Process(pid).memory_info().rss)
        except psutil.Error:
            return None

    def affinity(self, pid: int) -> list[int]:
        try:
            return sorted(psutil.Process(pid).cpu_affinity())
        except psutil.Error:
            return []

    def pin(self, pid: int, cpus: Iterable[int]) -> list[int]:
        """Pin every thread of `pid` to `cpus` now and verify; raise PinError if it fails."""
        wanted = sorted(set(cpus))
        try:
            for thread in psutil.Process(pid).threads():
                os.sched_setaffinity(thread.id, wanted)
            found = sorted(os.sched_getaffinity(pid))
        except (OSError, psutil.Error) as exc:
            raise PinError(pid, wanted, None, reason=str(exc) or type(exc).__name__) from None
        if found != wanted:
            raise PinError(pid, wanted, found)
        return found

    def host_cpus(self) -> list[int]:
        return sorted(os.sched_getaffinity(0))

    def sweep_orphans(self) -> list[int]:
        """Reap the orphans nautilusd adopted (it is a subreaper, or PID 1) and kill the live
        ones unless `kill_orphans` is off (PID 1: not all of them are ours); the killed pids.
        Its own child, the forkserver, is left to its Popen."""
        known = {r.proc.pid for r in self._retired}
        if self._server is not None:
            known.add(self._server.pid)
        if self._starting is not None:
            known.add(self._starting.proc.pid)
        return orphans.sweep(known, kill=self.kill_orphans)

    def close(self) -> None:
        """Close the forkserver's socket: it SIGKILLs what is left of its children and exits."""
        self._closing = True
        self.exits.close()
        if self._starting is not None:
            self._hello_failed(self._starting, "nautilusd is stopping")
        if self._sock is not None:
            self.loop.remove_reader(self._sock)
            self._sock.close()
            self._sock = None
        if self._pidfd >= 0:
            self.loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1
        if self._server is not None:
            try:
                self._server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._server.kill()
                self._server.wait()


@dataclass(eq=False)
class Starting:
    """The next forkserver generation, started, its hello not read yet."""

    proc: subprocess.Popen[bytes]
    sock: socket.socket
    on_ready: Callable[[int], object]
    on_failed: Callable[[str], object]
    timer: Timer | None = None


def _check_hello(message: tuple[object, ...]) -> None:
    if message[0] != "hello":
        raise SpawnError("forkserver", f"unexpected first message {message!r}")


@dataclass(eq=False)
class Retired:
    """An earlier forkserver generation, serving its engines until none is left."""

    generation: int
    proc: subprocess.Popen[bytes] | AdoptedChild
    sock: socket.socket
    pidfd: int


class AdoptedChild:
    """A child process this image did not start (its predecessor did, before the exec): the
    part of subprocess.Popen the host uses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0.0)
            time.sleep(0.01)  # the forkserver exits on its own once its socket is closed
        return self.returncode or 0

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


def _await_exits(pids: Iterable[int], timeout_s: float) -> None:
    """Wait until every process in `pids` has exited (its pidfd readable), at most `timeout_s`."""
    fds = []
    for pid in pids:
        with contextlib.suppress(OSError):
            fds.append(os.pidfd_open(pid))
    deadline = time.monotonic() + timeout_s
    try:
        while fds and (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select(fds, [], [], left)
            fds = [fd for fd in fds if fd not in ready]
            for fd in ready:
                os.close(fd)
    finally:
        for fd in fds:
            os.close(fd)


def _ints(message: tuple[object, ...], n: int) -> tuple[int, ...]:
    """The `n` integers after the verb of a forkserver message ("exited", pid, code)."""
    values = [v for v in message[1 : 1 + n] if isinstance(v, int)]
    if len(values) != n:
        raise SpawnError("forkserver", f"malformed message {message!r}")
    return tuple(values)
