"""The forkserver: a preloaded interpreter that forks engine processes on request from nautilusd.

It imports numpy, zmq and the engine modules once, so a respawn is a fork, not an interpreter
start; it reaps its children and reports each exit to nautilusd over the same socket. Run as
`python -m nautilusd.forkserver FD PARENT_PID SPARES WARMUP_JSON [MODULE ...]`; it dies with
nautilusd. Its heap is frozen (gc.freeze) before every fork: a child's collections then never
write to the pages it shares with the server, and a spare does the engine-independent part of
a start (engines.spare, WARMUP_JSON) before it is claimed.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import os
import pickle
import pwd
import resource
import select
import signal
import socket
import sys
import time
from types import FrameType, ModuleType
from typing import TYPE_CHECKING

from nautilusd import orphans
from nautilusd.codeversion import code_version, entry_module

if TYPE_CHECKING:  # the server imports the runner only with its preloads, after PDEATHSIG
    from engines.runner import LaunchSpec
    from engines.spare import Prepared, Warmup
    from engines.spec import EngineConfig

PR_SET_PDEATHSIG = 1
PARENT_GONE = signal.SIGUSR1  # the forkserver's parent-death signal (its children: SIGKILL)
MCL_CURRENT, MCL_FUTURE = 1, 2
MAX_MESSAGE_BYTES = 1 << 20
REFILL_DELAY_S = 0.03  # after a spawn, the next spare waits this long (well past its READY)
PRELOAD = ("numpy", "zmq", "psutil", "structlog", "engines.base", "engines.runner",
           "engines.spare", "engines.reference")

_libc = ctypes.CDLL(None, use_errno=True)
# A stop can arrive between fork and the runner's own handler: the inherited handler keeps it.
_stop_requested = False
# nautilusd died (PARENT_GONE): a flag the serve loop reads, not an exception, so that nothing
# can interrupt the drain that kills every engine (raised there, it skipped the rest).
_parent_gone_flag = False
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def _note_stop(_signum: int, _frame: FrameType | None) -> None:
    global _stop_requested
    _stop_requested = True


def _parent_gone(_signum: int, _frame: FrameType | None) -> None:
    global _parent_gone_flag
    _parent_gone_flag = True  # the wakeup fd ends serve()'s select; main() then drains


def stop_requested() -> bool:
    """True if this (forked) process got SIGTERM/SIGINT before it installed its own handler."""
    return _stop_requested


def die_with_parent(parent_pid: int, signum: int = signal.SIGKILL) -> None:
    """Get `signum` (SIGKILL) when the parent dies; exit now if the parent is already gone.
    The kernel clears this on a uid or gid change: call it again after switching user."""
    if _libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:
        os._exit(1)


def _rlimit(kind: int, value: int | None) -> None:
    if value is not None:
        limit = resource.RLIM_INFINITY if value < 0 else value
        resource.setrlimit(kind, (limit, limit))


def apply_nice(nice: int) -> bool:
    """Set this process's nice value. Raising priority (a negative value) needs root or
    CAP_SYS_NICE (the systemd units grant it); without, the engine runs at nice 0 and a warning
    says so instead of the engine failing to start: a priority is a latency aid, and a
    topology tuned for a production host must still run on a developer's. False if refused."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except PermissionError as exc:
        if nice >= 0:
            raise
        from engines.log import get_logger

        get_logger().warning("nice_not_permitted", nice=nice, error=str(exc),
                             hint="run as root or grant CAP_SYS_NICE (or LimitNICE)")
        return False
    return True


def boost_start(config: EngineConfig) -> int | None:
    """Raise this fresh child's priority to `config.start_nice` for its start when that is
    higher than the one it will run with; returns that nice (`config.nice`, else the
    inherited one), which the runner settles on once READY, or None when nothing was raised
    (no boost asked, not higher, an exec'd program, or not permitted: the start then simply
    runs at its usual priority)."""
    if config.start_nice is None or config.command:
        return None
    current = os.getpriority(os.PRIO_PROCESS, 0)
    final = current if config.nice is None else config.nice
    if config.start_nice >= final:
        return None
    try:
        os.setpriority(os.PRIO_PROCESS, 0, config.start_nice)
    except PermissionError:
        return None
    return final


def prepare_child(spec: LaunchSpec, boosted: bool = False) -> None:
    """Everything the OS needs before engine code: priority, limits, memory lock, user, env.

    Pinning is done (and verified) by the caller first, so nothing runs on a wrong core.
    `boosted`: the start runs at `start_nice` (boost_start) and the runner sets `nice` at
    READY, so it is not applied here.
    """
    config = spec.config
    if config.sched_fifo_priority is not None:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(config.sched_fifo_priority))
    if config.nice is not None and not boosted:
        apply_nice(config.nice)
    _rlimit(resource.RLIMIT_MEMLOCK, config.rlimits.memlock)
    _rlimit(resource.RLIMIT_NOFILE, config.rlimits.nofile)
    _rlimit(resource.RLIMIT_AS, config.rlimits.as_bytes)
    if config.mlockall and _libc.mlockall(MCL_CURRENT | MCL_FUTURE) != 0:
        raise OSError(ctypes.get_errno(), "mlockall failed")
    if config.user is not None:
        entry = pwd.getpwnam(config.user)
        os.initgroups(entry.pw_name, entry.pw_gid)
        os.setgid(entry.pw_gid)
        parent = os.getppid()
        os.setuid(entry.pw_uid)
        die_with_parent(parent)  # the user switch cleared the parent-death signal
    os.environ.update(config.environment)


def _child(spec: LaunchSpec, prepared: Prepared | None = None) -> int:
    """Runs in the forked child: become engine `spec.name`; returns the exit code."""
    from engines import runner
    from engines.log import configure_logging, get_logger

    configure_logging(spec.log_format, spec.log_level, instance=spec.instance, engine=spec.name)
    log = get_logger(engine=spec.name)
    settle_nice = boost_start(spec.config)
    if spec.cpus:
        try:
            runner.pin(spec.cpus)
        except runner.PinFailed as exc:
            log.error("pin_failed", cpus=list(spec.cpus), error=str(exc))
            return runner.EXIT_PIN_FAILED
    try:
        prepare_child(spec, boosted=settle_nice is not None)
    except (OSError, KeyError, ValueError) as exc:
        log.error("child_setup_failed", error=str(exc))
        return runner.EXIT_SETUP_FAILED
    if spec.config.command:
        # An exec'd program gets default dispositions (Python itself ignores SIGPIPE; a
        # Python engine keeps that, so a doorbell whose reader died is EPIPE, not death).
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(signum, signal.SIG_DFL)
        if _stop_requested:
            return 0
        argv = list(spec.config.command)
        os.execvp(argv[0], argv)
    hold_address_space()
    table = None if prepared is None else prepared.take_table(spec.status_segment, spec.shm_dir)
    # Logging was configured before the engine's environment was applied: configured again
    # only when that environment could change it (JOURNAL_STREAM, a journal socket).
    return runner.run(spec, stop_requested, table, configured=not spec.config.environment,
                      settle_nice=settle_nice)


def _load_mmhold() -> ModuleType | None:
    try:  # compiled and optional (setup.py): without it an exit is seen after the teardown
        return importlib.import_module("nautilusd._mmhold")
    except ImportError:
        return None


_MMHOLD = _load_mmhold()  # loaded here, once, not in each child on its critical path


def hold_address_space() -> int:
    """Start this engine's address-space holder (nautilusd/_mmhold.c): its SIGKILL is then
    seen in ~0.1 ms instead of after the ~1 ms teardown of a forked interpreter's memory,
    which the holder pays 50 ms after the engine died. Its pid, or 0 when the compiled module
    is not built or the clone is refused (the exit is then seen after the teardown)."""
    if _MMHOLD is None:
        return 0
    try:
        pid: int = _MMHOLD.hold()
    except OSError:
        return 0
    return pid


class _Server:
    """Forks children on request; keeps `spares` pre-forked children waiting for a spec so a
    respawn skips the fork (they are forked again off the critical path)."""

    def __init__(self, sock: socket.socket, spares: int, warmup: Warmup | None = None,
                 versions: dict[str, str] | None = None) -> None:
        self.sock = sock
        self.versions = dict(versions or {})  # entry module -> code version, as imported
        self.warmup = warmup
        self.spares_wanted = spares
        self.spares: list[tuple[int, int]] = []  # (pid, write end of its spec pipe)
        self.children: set[int] = set()
        self.refill_at: float | None = None  # time.monotonic() when spares are forked again
        self.wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.wake_w = wake_w

    def send(self, *message: object) -> None:
        self.sock.send(pickle.dumps(message))

    def serve(self) -> None:
        self.send("hello", os.getpid())
        self._refill()
        while not _parent_gone_flag:
            readable, _, _ = select.select([self.sock.fileno(), self.wake_r], [], [],
                                           self._refill_wait_s())
            if _parent_gone_flag:
                return  # no spawn for a nautilusd that is gone (main() drains the children)
            # A spawn request first: it is the restart's critical path, while nautilusd has
            # already seen the exit through the engine's pidfd (the reaper's report is its
            # fallback and can wait the spawn's few hundred microseconds).
            if self.sock.fileno() in readable:
                try:
                    data = self.sock.recv(MAX_MESSAGE_BYTES)
                except ConnectionResetError:
                    data = b""
                if not data:
                    return  # nautilusd closed its end: it is gone or shutting down
                op, spec = pickle.loads(data)
                if op == "spawn":
                    self._spawn(spec)
                    # The next spare is forked once the claimed one has had its start: a
                    # fork of this interpreter and the new spare's warm-up are milliseconds
                    # of CPU that would compete with it on a small host.
                    self.refill_at = time.monotonic() + REFILL_DELAY_S
            if self.wake_r in readable:
                self._reap()
            if self.refill_at is not None and time.monotonic() >= self.refill_at:
                self.refill_at = None
                self._refill()

    def _spawn(self, spec: LaunchSpec) -> None:
        payload = pickle.dumps(spec)
        while True:
            pid, spec_w = self.spares.pop() if self.spares else self._fork()
            try:
                with os.fdopen(spec_w, "wb") as pipe:
                    pipe.write(payload)
                break
            except BrokenPipeError:
                continue  # that spare died before its turn (its exit is reaped as usual)
        self.send("spawned", pid, spec.name, self._version(spec))

    def _version(self, spec: LaunchSpec) -> str | None:
        """The code version of the engine's entry module as this server loaded it (None for
        an exec'd program); hashed once, so an edit on disk shows only in a new server."""
        module = None if spec.config.command else entry_module(spec.config.entry)
        if module is None:
            return None
        if module not in self.versions:
            self.versions[module] = code_version(module)
        return self.versions[module]

    def _refill_wait_s(self) -> float | None:
        if self.refill_at is None:
            return None
        return max(0.0, self.refill_at - time.monotonic())

    def _refill(self) -> None:
        while len(self.spares) < self.spares_wanted:
            self.spares.append(self._fork())

    def _fork(self) -> tuple[int, int]:
        """A child that waits for its spec on a pipe; returns (pid, pipe write end)."""
        server_pid = os.getpid()
        spec_r, spec_w = os.pipe2(os.O_CLOEXEC)
        # CPython drops signals that reach the child before its after-fork cleanup: hold
        # SIGTERM/SIGINT blocked across the fork so an early stop stays pending until then.
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        gc.freeze()  # what the server made since the last fork: never rescanned by a child
        pid = os.fork()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        if pid == 0:
            code = 1
            try:
                os.close(spec_w)
                self._become_child(server_pid)
                prepared = self._prepare()
                with os.fdopen(spec_r, "rb") as pipe:
                    data = pipe.read()
                if data:
                    code = _child(pickle.loads(data), prepared)
            finally:
                sys.stdout.flush()
                os._exit(code)
        os.close(spec_r)
        self.children.add(pid)
        return pid, spec_w

    def _prepare(self) -> Prepared | None:
        """The engine-independent start work, done while this spare waits (engines.spare)."""
        if self.warmup is None:
            return None
        from engines.spare import Prepared

        try:
            return Prepared(self.warmup)
        except Exception as exc:  # the claimed child starts the slow way and says why
            print(f"forkserver: spare warm-up failed: {exc}", file=sys.stderr)
            return None

    def _become_child(self, server_pid: int) -> None:
        self.sock.close()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.close(self.wake_r)
        os.close(self.wake_w)
        for _, other_w in self.spares:
            os.close(other_w)
        signal.signal(PARENT_GONE, signal.SIG_DFL)
        os.setpgid(0, 0)  # own process group: stop and kill reach its children too
        die_with_parent(server_pid)

    def _reap(self) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass
        while True:  # orphans reparented here (engines' address-space holders) are reaped too
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid not in self.children:
                continue  # not one of ours to report: nautilusd knows only what we forked
            self.children.discard(pid)
            # What the engine left running in its group (an exec'd program's children,
            # which have no parent-death signal) goes with it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            for spare in [sp for sp in self.spares if sp[0] == pid]:
                self.spares.remove(spare)
                os.close(spare[1])
            self.send("exited", pid, os.waitstatus_to_exitcode(status))
        # Children of dead engines that left their group came to us: they go too.
        orphans.sweep(self.children)

    def kill_all(self) -> bool:
        """Kill every child's group, then every orphan that reaches us, until none is left."""
        return orphans.drain(self.children, self.wake_r)


def main(argv: list[str]) -> int:
    fd, parent_pid, spares, warmup_json = int(argv[0]), int(argv[1]), int(argv[2]), argv[3]
    modules = argv[4:]
    # nautilusd's death is a catchable signal here, so the server lives long enough to
    # SIGKILL every engine's process group (exec'd engines' children included).
    signal.signal(PARENT_GONE, _parent_gone)
    orphans.become_subreaper()  # an engine's orphaned children come to us, not to init
    die_with_parent(parent_pid, PARENT_GONE)
    # Ctrl-C and SIGTERM are for nautilusd, which stops the engines in order itself; the
    # server only notes them, so that a child forked a moment before one arrives keeps it.
    signal.signal(signal.SIGINT, _note_stop)
    signal.signal(signal.SIGTERM, _note_stop)
    for name in (*PRELOAD, *modules):
        try:
            importlib.import_module(name)
        except Exception as exc:  # a broken engine module fails its own spawn, not the server
            print(f"forkserver: cannot preload {name!r}: {exc}", file=sys.stderr)
    from engines.spare import Warmup

    versions = {name: code_version(name) for name in modules if name in sys.modules}
    warmup = Warmup.from_json(warmup_json) if warmup_json else None
    gc.collect()
    gc.freeze()  # the preloaded heap: shared with every child, never written by its collector
    sock = socket.socket(fileno=fd)
    server = _Server(sock, spares, warmup, versions)
    try:
        server.serve()
    finally:
        server.kill_all()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
