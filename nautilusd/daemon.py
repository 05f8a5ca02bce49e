"""`nautilusd run`: load the topology, own the runtime dir, status table and rings, supervise.

Foreground only; SIGTERM or SIGINT = graceful ordered shutdown and exit 0; SIGHUP = reload
the config file. Rings left by a SIGKILLed predecessor of the same instance are adopted when
their geometry matches the config (records and cursors survive); everything else it left is
reclaimed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import signal
import socket
import stat
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import zmq

from engines import StateDir, StateError
from engines.counters import adopt_declared, counter_names
from engines.errors import CounterNameError
from engines.spare import Warmup
from engines.statedir import STARTED_MARKER
from nautilusd import handover as handover_doc
from nautilusd import logsink, orphans, paths, reexec
from nautilusd.busproxy import BusProxy
from nautilusd.config.load import loads_config, read_config_file
from nautilusd.config.model import Topology
from nautilusd.config.params import check_params, load_checked
from nautilusd.control.early import EarlyControl, Handed, resume_from_environment
from nautilusd.control.server import ControlServer
from nautilusd.errors import ConfigError, NautilusdError
from nautilusd.handover import HandoverError
from nautilusd.host import RealHost
from nautilusd.launch import LaunchPaths
from nautilusd.listeners import Listeners
from nautilusd.log import configure_logging, get_logger, resolve_format
from nautilusd.loop import EventLoop
from nautilusd.ringset import RingSet, adopt_rings, reattach_rings
from nautilusd.startphases import PHASES, StartPhases
from nautilusd.supervisor import READY_BACKSTOP_S, Supervisor
from nautilusd.systemd import NOTIFY_ENV, Notifier, WatchdogGate, summary_line
from shm.doorbell import Doorbell, remove_fifo
from shm.errors import ShmError
from shm.fileguard import check_owned, ensure_dir
from shm.liveness import process_alive
from shm.segment import MAGIC, read_header_file, reclaim_stale
from shm.status import StatusTable

if TYPE_CHECKING:
    from nautilusd.metrics.server import MetricsServer

EXIT_CONFIG = 2
EXIT_RUNTIME = 1
STATUS_TOPIC = "system.status"  # the `nautilusctl status --json` document, on the bus
STATUS_INTERVAL_S = 1.0
EXEC_BLOCKED = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


def run(args: argparse.Namespace, handed: Handed | None = None) -> int:
    """Entry of `nautilusd run --config FILE [--runtime-dir DIR] [--summary]`; `handed` is
    what an earlier image of this process handed over (read from the environment if None)."""
    handed = handed or resume_from_environment(serve_early=False)
    try:
        topology = _load_topology(args.config, handed.doc)
    except ConfigError as exc:
        if handed.early is not None:
            handed.early.refuse(f"invalid config: {exc}")
        print(f"nautilusd: invalid config:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    PHASES.mark("config")
    sup = topology.supervisor
    runtime_dir = Path(args.runtime_dir or sup.runtime_dir or paths.default_runtime_dir(
        sup.instance))
    state_dir = Path(getattr(args, "state_dir", None) or sup.state_dir
                     or paths.default_state_dir(sup.instance)).absolute()
    try:
        summary_out = _divert_logs(runtime_dir) if getattr(args, "summary", False) else None
    except (ShmError, OSError) as exc:
        print(f"nautilusd: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    configure_logging(sup.log_format, sup.log_level, instance=sup.instance)
    PHASES.mark("logging")
    handover = handed.doc
    if handed.error is not None:  # an earlier image's state we cannot adopt
        reexec.abandon(handed.error.fds, str(handed.error),
                       Path(sup.shm_dir) / paths.status_segment(sup.instance))
    if handover is not None:
        PHASES.continue_from(handover.get("phases"))
    PHASES.mark("handover")
    daemon = Daemon(topology, runtime_dir, summary_out=summary_out, state_dir=state_dir,
                    handover=handover, listeners=handed.listeners, early=handed.early)
    try:
        return daemon.run()
    except (NautilusdError, ShmError, StateError, OSError, zmq.ZMQError) as exc:
        daemon.log.error("daemon_failed", error=str(exc))
        print(f"nautilusd: {exc}", file=sys.stderr)
        return EXIT_RUNTIME


def _load_topology(path: str | Path, handover: dict[str, Any] | None) -> Topology:
    """The topology at `path` with every engine's params checked; after a re-execution the
    params check is left out when the earlier image checked these very bytes (sha256 in the
    handover) equal to its running topology just before the exec: the engines it would vet
    are already running on those params, their forkserver keeps the code that accepted them,
    and any later reload or upgrade checks again. (It imports every engine's module: most of
    a loaded host's time from exec to supervising again.)"""
    source = str(Path(path).absolute())
    data = read_config_file(source)
    topology = loads_config(data, source=source)
    if handover is None or handover.get("config_sha256") != config_digest(data):
        check_params(topology)
    return topology


def config_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _divert_logs(runtime_dir: Path) -> TextIO:
    """Send stdout (the daemon's and every engine's log lines) to <runtime_dir>/nautilusd.log
    and return a stream on the original stdout for the live summary."""
    ensure_dir(runtime_dir)
    log_path = paths.log_file(runtime_dir)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    try:
        check_owned(os.fstat(log_fd), log_path)
    except ShmError:
        os.close(log_fd)
        raise
    terminal = os.fdopen(os.dup(1), "w")
    os.dup2(log_fd, 1)
    os.close(log_fd)
    terminal.write(f"logs: {log_path}\n")
    return terminal


SOCKET_NAMES = ("control.sock", "bus-in.sock", "bus-out.sock", "svc-*.sock")


def remove_stale_sockets(runtime_dir: Path) -> list[str]:
    """Unlink the sockets nautilusd and its engines bind in `runtime_dir` (ours, sockets
    only): left behind, a client would connect to nothing."""
    removed = []
    for pattern in SOCKET_NAMES:
        for path in runtime_dir.glob(pattern):
            try:
                st = path.lstat()
                if stat.S_ISSOCK(st.st_mode) and st.st_uid == os.geteuid():
                    path.unlink()
                    removed.append(path.name)
            except OSError:
                continue
    return removed


def refuse_if_running(instance: str, shm_dir: Path) -> None:
    """Raise if a live nautilusd owns `instance` (its status segment names a live owner)."""
    status_path = shm_dir / paths.status_segment(instance)
    header = read_header_file(status_path)  # another uid's file or a symlink: refused
    if header is not None and header.magic == MAGIC and header.owner_pid != os.getpid() and (
        process_alive(header.owner_pid, header.owner_start_ticks)
    ):
        raise NautilusdError(
            f"instance {instance!r} is already running (pid {header.owner_pid} owns {status_path})"
        )


def reclaim_instance(instance: str, shm_dir: Path, keep: Iterable[str] = ()) -> list[str]:
    """Remove what a dead nautilusd of `instance` left in `shm_dir`, except the segments in
    `keep` (adopted rings) and their doorbells; refuse if it is alive."""
    refuse_if_running(instance, shm_dir)
    prefix = paths.segment_prefix(instance)
    kept = tuple(f"{name}.r" for name in keep)
    removed = []
    # Doorbell FIFOs first: reading a FIFO's "header" would block until a writer opens it.
    for path in sorted(shm_dir.glob(f"{prefix}*")):
        st = path.lstat()
        if stat.S_ISFIFO(st.st_mode) and not path.name.startswith(kept):
            check_owned(st, path, stat.S_IFIFO)  # a planted FIFO is reported, not touched
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed + reclaim_stale(prefix, shm_dir)


class Daemon:
    """One nautilusd instance: resources are made in order and released in reverse."""

    def __init__(self, topology: Topology, runtime_dir: Path,
                 summary_out: TextIO | None = None, state_dir: Path | None = None,
                 handover: dict[str, Any] | None = None, listeners: Listeners | None = None,
                 early: EarlyControl | None = None) -> None:
        self.topology = topology
        self.runtime_dir = runtime_dir
        self.state_dir = state_dir or paths.default_state_dir(topology.supervisor.instance)
        self.summary_out = summary_out
        self.log = get_logger(engine="nautilusd")
        self.loop = EventLoop()
        self.loop.on_error = self._on_loop_error
        self.shm_dir = Path(topology.supervisor.shm_dir)
        self.exit_code = 0
        self._closers: list[Callable[[], object]] = []  # released in reverse order
        # systemd's variables, unset for the engines, set again for an exec of this process
        self._notify_env = {k: os.environ[k] for k in NOTIFY_ENV if k in os.environ}
        self.notifier = Notifier.from_env(unset_environment=True)
        self.handover = handover  # what an earlier image of this process handed over
        self.listeners = listeners or Listeners(
            (handover or {}).get("listeners") if handover is not None else None)
        self.early = early  # answers `status` from the handover until the control server
        self.control: ControlServer | None = None
        self._ready_sent = bool(handover and handover.get("ready_sent"))
        self._marked_started = bool(handover and handover.get("marked_started"))
        self.metrics: MetricsServer | None = None
        self._checked_config: tuple[Topology, str] | None = None  # by request_reexec
        self._early_replies = (0, 0)  # snapshot replies of the early control, the first's ns

    def run(self) -> int:
        try:
            self._setup()
            sink = logsink.discover(resolve_format(self.topology.supervisor.log_format))
            logsink.record(self.runtime_dir, sink)
            self.log.info("daemon_started", log_sink=sink, pid=os.getpid(),
                          config=str(self.topology.source),
                          runtime_dir=str(self.runtime_dir),
                          state_dir=str(self.state_dir), engines=len(self.sup.instances))
            PHASES.mark("daemon_started")
            if self.handover is not None:
                self._resume_adopted()
                PHASES.mark("adopted")
                if self.control is None:  # the early control served until now
                    self._start_control()
                    PHASES.mark("control_taken_over")
            else:
                self.sup.start_all()
                self._on_lifecycle_event("", "ready", {})  # nothing to wait for: READY=1 now
            self.loop.run()
        finally:
            if self.early is not None:  # never taken over: setup failed
                self.early.refuse("nautilusd failed to start")
                self.early = None
            self._teardown()
            remove_stale_sockets(self.runtime_dir)  # engines' service sockets outlive them
        self.log.info("daemon_stopped", exit_code=self.exit_code)
        return self.exit_code

    # -- setup, in dependency order ----------------------------------------------------------

    def _setup(self) -> None:
        sup = self.topology.supervisor
        self._install_signals()  # first: a SIGTERM during setup is kept, then honoured
        self._become_subreaper()
        ensure_dir(self.runtime_dir)
        ensure_dir(self.shm_dir, shared_ok=True)
        ensure_dir(self.state_dir)  # ancestors nobody else can change, then
        StateDir.create(self.state_dir)  # 0700, ours, not a symlink: or the start fails here
        if sup.cpus:
            os.sched_setaffinity(0, sup.cpus)
        PHASES.mark("dirs")
        if self.handover is not None:
            self._adopt_counter_names(self.handover.get("counter_names"))
            try:
                self._take_over_segments()
            except HandoverError as exc:
                if self.early is not None:
                    self.early.refuse(str(exc))
                    self.early = None
                reexec.abandon(self.handover["fds"], str(exc),
                               self.shm_dir / paths.status_segment(sup.instance))
                self.handover = None
                self.listeners = Listeners()
        if self.handover is None:
            self._make_segments()
        PHASES.mark("segments")
        self._start_host_and_supervisor()
        PHASES.mark("supervisor")
        self._start_integrations()

    def _adopt_counter_names(self, names: object) -> None:
        """The engines' counter names as the earlier image knew them (else the first status
        imports every engine's module to read them); bad ones are left out, and read from
        the classes as on any start."""
        if not isinstance(names, dict):
            return
        try:
            adopt_declared(names, "handover counter_names")
        except CounterNameError as exc:
            self.log.warning("handover_counter_names_ignored", error=str(exc))

    def _take_over_segments(self) -> None:
        """After an exec: the status table and rings this pid owns, untouched."""
        sup = self.topology.supervisor
        reexec.check_adoptable(self.handover or {}, self.topology)
        rings = reattach_rings(self.topology, self.shm_dir)
        if set(rings) != set(self.topology.rings):
            for ring in rings.values():
                ring.segment.close()
            raise HandoverError(
                f"rings {sorted(set(self.topology.rings) - set(rings))} cannot be re-attached")
        self.table = StatusTable.attach(paths.status_segment(sup.instance),
                                        directory=self.shm_dir)
        self._closers.append(self._close_table)
        self.rings = RingSet(rings, self.shm_dir)
        self._closers.append(self._close_rings)

    def _make_segments(self) -> None:
        sup = self.topology.supervisor
        refuse_if_running(sup.instance, self.shm_dir)
        remove_stale_sockets(self.runtime_dir)  # a SIGKILLed predecessor's: clients fail fast
        adopted = adopt_rings(self.topology, self.shm_dir)
        if adopted:  # a SIGKILLed predecessor's rings: engines resume at committed cursors
            self.log.warning("adopted_rings", rings=sorted(adopted), cursors={
                name: ring.stats()["cursor"] for name, ring in adopted.items()})
        removed = reclaim_instance(sup.instance, self.shm_dir,
                                   keep=[r.name for r in adopted.values()])
        if removed:
            self.log.warning("reclaimed_stale_segments", segments=removed)
        self.table = StatusTable.create(paths.status_segment(sup.instance), sup.status_slots,
                                        directory=self.shm_dir)
        self._closers.append(self._close_table)
        self.rings = RingSet.create(self.topology, self.shm_dir, adopted=adopted)
        self._closers.append(self._close_rings)

    def _start_host_and_supervisor(self) -> None:
        sup = self.topology.supervisor
        entries = {e.entry.partition(":")[0] for e in self.topology.engines.values() if e.entry}
        warmup = Warmup(status_segment=paths.status_segment(sup.instance),
                        shm_dir=str(self.shm_dir), log_format=sup.log_format,
                        log_level=sup.log_level, instance=sup.instance)
        self.host = RealHost(self.loop, preload=sorted(entries), warmup=warmup,
                             kill_orphans=not self._pid1)
        handed = self.handover
        if handed is not None:
            self.host.adopt(int(handed["forkserver"]["pid"]), int(handed["forkserver"]["fd"]))
        else:
            self.host.start()
        self._closers.append(self.host.close)
        self.bus_pub = sup.bus_pub_endpoint or paths.bus_pub_endpoint(self.runtime_dir)
        self.bus_sub = sup.bus_sub_endpoint or paths.bus_sub_endpoint(self.runtime_dir)
        where = LaunchPaths(status_segment=paths.status_segment(sup.instance),
                            shm_dir=self.shm_dir, runtime_dir=self.runtime_dir,
                            state_dir=self.state_dir,
                            bus_pub_endpoint=self.bus_pub, bus_sub_endpoint=self.bus_sub,
                            ready_bell=str(paths.ready_bell(self.runtime_dir)))
        slots = {name: int(entry["slot"]) for name, entry in
                 (handed or {}).get("supervisor", {}).get("instances", {}).items()}
        self.sup = Supervisor(self.topology, self.host, self.loop, self.table, paths=where,
                              rings=self.rings, ready_poll_s=READY_BACKSTOP_S,
                              adopted_slots=slots)
        self.sup.reexec_handler = self.request_reexec
        self.sup.events.defer = self._after_step
        self._watch_ready_bell()
        self.sup.add_stopped_listener(self.loop.stop)
        self.sup.add_reload_listener(lambda topology: setattr(self, "topology", topology))

    def _after_step(self, record: Callable[[], object]) -> None:
        """Run `record` (an event's log record) once this loop step is done; at once when the
        loop is not running (start-up, shutdown's last step, teardown): none is lost."""
        if self.loop.running:
            self.loop.call_later(0, record)
        else:
            record()

    def _watch_ready_bell(self) -> None:
        """Readiness is seen when an engine rings this FIFO after setting its ready flag (the
        supervisor's timer is only a backstop): a restart's READY is not a poll period late."""
        bell = Doorbell(paths.ready_bell(self.runtime_dir))

        def rung() -> None:
            bell.drain()
            self.sup.check_readiness()

        self.loop.add_reader(bell, rung)

        def close() -> None:
            self.loop.remove_reader(bell)
            bell.close()
            remove_fifo(bell.path)

        self._closers.append(close)

    def _install_signals(self) -> None:
        # An earlier image of this process blocked them across its exec: pending ones now
        # reach the handlers below.
        self._sig_r, sig_w = socket.socketpair()
        self._sig_r.setblocking(False)
        sig_w.setblocking(False)
        self._sig_w = sig_w
        signal.set_wakeup_fd(sig_w.fileno())
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(signum, lambda *_: None)  # the wakeup fd carries the signal number
        self.loop.add_reader(self._sig_r, self._on_signal)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, EXEC_BLOCKED)
        self._closers.append(self._restore_signals)

    def _become_subreaper(self) -> None:
        """Orphans below nautilusd come to it (an exec'd engine's children when the forkserver
        died first and they left the engine's group): each SIGCHLD kills and reaps them. As
        PID 1 every orphan of the container comes: those are reaped, not killed."""
        self._pid1 = os.getpid() == 1
        if not self._pid1:
            orphans.become_subreaper()
        self._closers.append(self._drain_orphans)  # after the forkserver is gone

    def _sweep_orphans(self) -> None:
        host: RealHost | None = getattr(self, "host", None)  # none before the forkserver
        killed = orphans.sweep(set(), kill=not self._pid1) if host is None else (
            host.sweep_orphans())
        if killed:
            self.log.warning("adopted_orphans_killed", pids=killed)

    def _drain_orphans(self) -> None:
        if not orphans.drain((), self._sig_r.fileno(), timeout_s=2.0):
            self.log.error("orphans_left", pids=orphans.children())

    def _start_integrations(self) -> None:
        self._closers.append(self.listeners.close)
        self.bus = BusProxy(self.bus_pub, self.bus_sub, self.loop, listeners=self.listeners)
        self.sup.add_event_listener(lambda *event: self.bus.on_lifecycle_event(*event))
        self._closers.append(lambda: self.bus.close())
        # The status document on the bus once a second, for the gateway and its dashboard.
        self.loop.call_every(STATUS_INTERVAL_S, self._publish_status)
        PHASES.mark("bus")
        self._start_metrics()
        PHASES.mark("metrics")
        self.control_endpoints = self._control_endpoints()
        if self.early is None:  # else taken over once the instances are adopted
            self._start_control()
        PHASES.mark("control")
        if self.topology.fleet.control_endpoint:
            from nautilusd.fleet import FleetControl

            fleet = FleetControl(self.topology, self.state_dir, self.sup, self.loop,
                                 self.control_endpoints)
            self._closers.append(fleet.close)
        self._start_systemd()
        if self.summary_out is not None:
            from nautilusd.summary import LiveSummary

            live = LiveSummary(self.sup.status, self.bus_sub, self.loop, self.summary_out)
            self._closers.append(live.close)
            self.loop.call_every(1.0, live.tick)
        PHASES.mark("integrations")

    def _control_endpoints(self) -> dict[str, str]:
        endpoints = {"bus_pub": self.bus_pub, "bus_sub": self.bus_sub,
                     "state_dir": str(self.state_dir)}
        if self.metrics is not None:  # the bound port, also when the config asked for port 0
            endpoints.update(metrics_url=self.metrics.metrics_url,
                             health_url=self.metrics.health_url)
        return endpoints

    def _start_control(self) -> None:
        """The control server, on the socket the early control served (with the requests
        it left, answered first) when there is one at this endpoint."""
        control = (self.topology.supervisor.control_endpoint
                   or paths.control_endpoint(self.runtime_dir))
        early, self.early = self.early, None
        taken = None
        if early is not None and early.endpoint == control:
            taken = early.take_over()
            self._early_replies = (early.answered, early.first_reply_ns)
        elif early is not None:
            early.refuse(f"the control endpoint is {control} now, not {early.endpoint}")
        server = ControlServer(control, self.sup, self.loop, endpoints=self.control_endpoints,
                               listeners=self.listeners, taken_over=taken)
        if self.control is None:
            server.after_first_reply = self._first_reply_sent
        self.control = server
        self._closers.append(server.close)

    def _start_metrics(self) -> None:
        address = self.topology.supervisor.metrics_address
        port = (self.handover or {}).get("metrics_port")
        if address and port:  # the port an earlier image bound (port 0 picked it)
            address = f"{address.rpartition(':')[0] or address}:{port}"
        if not address:
            return
        from nautilusd.metrics.server import MetricsServer
        from nautilusd.metrics.source import StatusTableSource

        source = StatusTableSource(self.table, self.topology, versions=lambda: self.sup.versions,
                                   daemon_version=self.sup.version)
        self.sup.add_reload_listener(lambda topology: setattr(source, "topology", topology))
        try:
            self.metrics = MetricsServer(address, source).start()
        except OSError as exc:  # a busy port must not keep the engines from running
            self.log.error("metrics_unavailable", address=address, error=str(exc))
            return
        self._closers.append(self.metrics.stop)

    def _start_systemd(self) -> None:
        self.sup.add_event_listener(self._on_lifecycle_event)
        interval = self.notifier.watchdog_interval_s()
        if interval:
            gate = WatchdogGate(self.notifier, self.sup.critical_healthy)
            self.loop.call_every(interval, gate.tick)
        self.sup.add_shutdown_listener(self.notifier.stopping)
        self._closers.append(self.notifier.close)

    # -- running -----------------------------------------------------------------------------

    def _first_reply_sent(self) -> None:
        """The control socket answered for the first time: where this start's time went."""
        PHASES.mark("first_reply")
        self.sup.start_phases_ms = PHASES.steps_ms()
        self.sup.start_phases_cpu_ms = PHASES.cpu_steps_ms()
        early_replies, early_first_ns = self._early_replies
        self.log.info("start_phases", reexec=self.handover is not None,
                      total_ms=PHASES.since_origin_ms()["first_reply"],
                      phases_ms=self.sup.start_phases_ms,
                      phases_cpu_ms=self.sup.start_phases_cpu_ms, early_replies=early_replies,
                      early_first_reply_ms=PHASES.ms_since_origin(early_first_ns)
                      if early_first_ns else None)

    def _on_lifecycle_event(self, name: str, event: str, fields: dict[str, Any]) -> None:
        if (not self._marked_started and event == "ready" and not self.sup.shutting_down
                and self.sup.all_ready()):
            self._marked_started = True
            state = StateDir(self.state_dir)
            if not state.exists(STARTED_MARKER):
                state.write_atomic(STARTED_MARKER, f"{os.getpid()}\n".encode())
        if not self.notifier.enabled or self.sup.shutting_down:
            return
        line = summary_line(self.sup.status()["engines"])
        if not self._ready_sent and event == "ready" and self.sup.all_ready():
            self._ready_sent = True
            self.notifier.ready(line)
        else:
            self.notifier.status(line)

    def _publish_status(self) -> None:
        if not self.sup.shutting_down:
            self.bus.publish(STATUS_TOPIC, self.sup.status())

    def _on_loop_error(self, exc: Exception, callback: object) -> None:
        """A step of the loop raised: log it with its traceback and keep supervising."""
        self.log.error("loop_step_failed", step=repr(callback), error=f"{type(exc).__name__}: "
                       f"{exc}", exc_info=exc)

    def _on_signal(self) -> None:
        try:
            data = self._sig_r.recv(64)
        except BlockingIOError:
            return
        for signum in data:
            if signum in (signal.SIGTERM, signal.SIGINT):
                self._begin_shutdown(signal.Signals(signum).name)
            elif signum == signal.SIGHUP:
                self._reload()
            elif signum == signal.SIGCHLD:
                self._sweep_orphans()

    def _begin_shutdown(self, reason: str) -> None:
        if self.sup.shutting_down:
            return
        self.log.info("shutdown_requested", reason=reason)
        self.sup.shutdown()

    def _reload(self) -> None:
        try:
            topology = load_checked(self.topology.source)
        except ConfigError as exc:
            self.log.error("reload_refused", error=str(exc))
            return
        self.notifier.reloading()
        try:
            diff = self.sup.reload(topology)
        except NautilusdError as exc:
            self.log.error("reload_refused", error=str(exc))
            return
        self.log.info("reloaded", **diff)

    # -- re-execution (nautilusd.reexec) ------------------------------------------------------

    def request_reexec(self) -> dict[str, Any]:
        """Check that a handover is possible now and exec on the loop's next turn (after the
        reply went out). Raises HandoverError naming why not."""
        if self.summary_out is not None:
            raise HandoverError("reexec is not available with --summary (the live "
                                "summary's terminal does not cross the exec)")
        reexec.refuse_unsettled(self.sup)
        try:
            data = read_config_file(str(self.topology.source))
            on_disk = check_params(loads_config(data, source=str(self.topology.source)))
        except ConfigError as exc:
            raise HandoverError(f"reexec refused: the config does not load: {exc}") from None
        if on_disk != self.topology:
            raise HandoverError(
                f"reexec refused: {self.topology.source} differs from the running topology "
                "(edited, or changed by scale, since the last reload): reload first")
        self._checked_config = (self.topology, config_digest(data))
        self.loop.call_later(0, self._reexec)
        return {"reexecuting": True, "pid": os.getpid(), "reexecs": self.sup.reexecs + 1}

    def _reexec(self) -> None:
        handing = StartPhases(origin_ns=time.monotonic_ns())  # the new image reports them
        control = self.control
        try:
            reexec.refuse_unsettled(self.sup)
            if control is None:
                raise HandoverError("the control server is not running")
        except HandoverError as exc:  # something changed since the request
            self.log.error("reexec_refused", error=str(exc))
            return
        server_pid, server_fd = self.host.for_exec()
        listeners = self.listeners.for_exec()
        doc = {"supervisor": reexec.export_state(self.sup), "reexecs": self.sup.reexecs + 1,
               "forkserver": {"pid": server_pid, "fd": server_fd}, "listeners": listeners,
               "ready_sent": self._ready_sent, "marked_started": self._marked_started,
               "metrics_port": self.metrics.port if self.metrics is not None else None,
               "version": self.sup.version, "counter_names": self._counter_names(),
               **self._handed_checks()}
        self.log.info("reexecuting", pid=os.getpid(), version=self.sup.version,
                      reexecs=doc["reexecs"])
        self.notifier.reloading()
        handing.mark("export")
        control.drain()  # every request already queued is answered by this image
        handing.mark("drain")
        doc["control"] = {"endpoint": control.endpoint, "taken_at": time.monotonic(),
                          "status": control.local_result("status")}
        handed_sockets = [control.socket, self.bus.xsub, self.bus.xpub]
        for sock in handed_sockets:  # closed next: a failed exec binds new ones
            self.loop.remove_reader(sock)
        reexec.flush_and_close(handed_sockets)
        handing.mark("flush")
        handover_fd = handover_doc.write_handover({**doc, "phases": handing.export()})
        env = {**os.environ, **self._notify_env,
               **handover_doc.exec_environment(handover_fd, [server_fd, *listeners.values()])}
        signal.pthread_sigmask(signal.SIG_BLOCK, EXEC_BLOCKED)  # kept pending across exec
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            os.execve(sys.executable, sys.orig_argv, env)
        except OSError as exc:  # this image goes on; the sockets are bound again
            signal.pthread_sigmask(signal.SIG_UNBLOCK, EXEC_BLOCKED)
            os.close(handover_fd)
            self.log.error("reexec_failed", error=str(exc), executable=sys.executable)
            self.bus = BusProxy(self.bus_pub, self.bus_sub, self.loop, listeners=self.listeners)
            self._start_control()

    def _counter_names(self) -> dict[str, list[str]]:
        entries = {e.entry for e in self.topology.engines.values() if e.entry}
        return {entry: list(counter_names(entry)) for entry in sorted(entries)}

    def _handed_checks(self) -> dict[str, Any]:
        """What the new image need not check again: the config's bytes, checked equal to
        the running topology by request_reexec (unless a reload replaced it since)."""
        checked, digest = self._checked_config or (None, "")
        return {"config_sha256": digest} if checked is self.topology else {}

    def _resume_adopted(self) -> None:
        """After an exec: adopt the handed-over instances and go on supervising."""
        handed = self.handover or {}
        self.sup.reexecs = int(handed.get("reexecs", 1))
        lost = reexec.adopt_state(self.sup, handed["supervisor"])
        self.log.info("reexecuted", pid=os.getpid(), version=self.sup.version,
                      previous_version=handed.get("version"), reexecs=self.sup.reexecs,
                      engines=len(self.sup.instances), lost=lost)
        self.sup.resume(lost)
        if self.notifier.enabled:
            self.notifier.ready(summary_line(self.sup.status()["engines"]))

    # -- teardown, in reverse ----------------------------------------------------------------

    def _teardown(self) -> None:
        while self._closers:
            closer = self._closers.pop()
            try:
                closer()
            except Exception:  # keep releasing the rest: segments must not leak
                self.log.exception("teardown_step_failed", step=repr(closer))
                self.exit_code = EXIT_RUNTIME

    def _restore_signals(self) -> None:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        self.loop.remove_reader(self._sig_r)
        self._sig_r.close()
        self._sig_w.close()

    def _close_rings(self) -> None:
        if self.topology.supervisor.keep_rings:
            self.rings.close()
        else:
            self.rings.destroy()

    def _close_table(self) -> None:
        self.table.close()
        with contextlib.suppress(FileNotFoundError):
            self.table.segment.unlink()
