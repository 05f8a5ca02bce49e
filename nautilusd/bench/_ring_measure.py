"""The measurements of the rings suite: round trips, one-way rates and parked-reader CPU.

Each function runs one measurement between this process and one forked peer and adds its
row to the `Bench`; nautilusd.bench.rings orders them and builds the summary.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from nautilusd.bench import _ring_peers as peers
from nautilusd.bench.report import percentiles
from nautilusd.paths import scratch_id
from shm import Blocking, BusySpin, Ring, RingReader, RingWriter
from shm.layout import RAW64

CTX = mp.get_context("fork")


@dataclass(frozen=True)
class Plan:
    """How many samples each measurement takes."""

    spin_rtts: int
    wake_rtts: int
    sporadic_rtts: int
    single: int
    batched: int
    idle_s: float



class Bench:
    """One run: scratch directory, cpu placement and the rows collected so far."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.dir = peers.scratch_dir(Path("/dev/shm"), f"{os.getpid()}-{scratch_id(6)}")
        cpus = sorted(psutil.Process().cpu_affinity() or [0])
        self.my_cpu: int | None = cpus[0] if len(cpus) > 1 else None
        self.peer_cpu: int | None = cpus[1] if len(cpus) > 1 else None
        self.rows: list[dict[str, Any]] = []
        self.procs: list[Any] = []

    def peer(self, target: Callable[..., None], *args: Any) -> Any:
        proc = CTX.Process(target=target, args=(*args, self.peer_cpu), daemon=True)
        proc.start()
        self.procs.append(proc)
        return proc

    def add_rtt(self, transport: str, samples_ns: np.ndarray) -> dict[str, float]:
        warm = samples_ns[len(samples_ns) // 10 :]  # drop the warm-up tenth
        stats = percentiles(warm, scale=1e-3)
        self.rows.append({"measure": "round_trip_us", "transport": transport, **stats})
        return stats

    def add_rate(self, transport: str, records: int, seconds: float, cpu_s: float) -> float:
        """A rate row; receiver_cpu_pct shows how much of its core the receiver actually got
        (well under 100 % on a busy shared machine, where rates drop with it)."""
        rate = records / seconds
        self.rows.append({"measure": "one_way_msgs_per_s", "transport": transport,
                          "p50": round(rate), "n": records,
                          "receiver_cpu_pct": round(100 * cpu_s / seconds, 1)})
        return rate

    def kill_peers(self) -> None:
        for proc in self.procs:
            if proc.is_alive():
                proc.kill()
                proc.join(5)

    def close(self) -> None:
        self.kill_peers()
        shutil.rmtree(self.dir, ignore_errors=True)


def _join(proc: Any) -> None:
    proc.join(30)
    if proc.is_alive():
        proc.kill()
        proc.join(5)
    if proc.exitcode != 0:
        raise RuntimeError(f"benchmark peer pid {proc.pid} failed with exit code {proc.exitcode}")


# -- round trips ---------------------------------------------------------------------------------


def ring_rtt(
    bench: Bench, n: int, blocking: bool, spin_s: float, gap_s: float = 0.0
) -> np.ndarray:
    """Ping over ring `ping`, pong back over `pong`; gap_s of idleness before each ping lets
    both sides park, so every message pays a doorbell wake-up (sporadic traffic)."""
    d = bench.dir
    with Ring.create("ping", RAW64, 1024, "block", directory=d, readers=1), \
            Ring.create("pong", RAW64, 1024, "block", directory=d, readers=1):
        wait = Blocking(spin_s=spin_s) if blocking else BusySpin()
        writer = RingWriter.attach("ping", RAW64, directory=d)
        reader = RingReader.attach("pong", RAW64, 0, directory=d, wait=wait)
        proc = bench.peer(peers.ring_echo, str(d), n, blocking, spin_s)
        samples = np.empty(n, np.int64)
        write_bytes, read_one, wait_for = writer.write_bytes, reader.read_one, reader.wait
        clock, rec, pause = time.perf_counter_ns, peers.RECORD, time.sleep
        for i in range(n):
            if gap_s:
                pause(gap_s)  # pacing: idle time between messages, not a wait for a condition
            t0 = clock()
            write_bytes(rec)
            got = read_one()
            spins = 0
            while got is None:
                if blocking:
                    wait_for(5.0)
                spins += 1
                if spins & 0xFFFFF == 0 and not proc.is_alive():
                    raise RuntimeError(f"ring echo peer pid {proc.pid} died")
                got = read_one()
            samples[i] = clock() - t0
        _join(proc)
        reader.close()
        writer.close()
    return samples


def fifo_floor_rtt(bench: Bench, n: int, gap_s: float) -> np.ndarray:
    """Ping-pong over two bare FIFOs with both sides parked in poll(): what any doorbell
    wake-up costs on this machine before a ring adds anything."""
    import select

    ping, pong = str(bench.dir / "floor.ping"), str(bench.dir / "floor.pong")
    for path in (ping, pong):
        os.mkfifo(path, 0o600)
    proc = bench.peer(peers.fifo_echo, ping, pong, n)
    wr = os.open(ping, os.O_RDWR | os.O_NONBLOCK)
    rd = os.open(pong, os.O_RDWR | os.O_NONBLOCK)
    poller = select.poll()
    poller.register(rd, select.POLLIN)
    samples = np.empty(n, np.int64)
    clock = time.perf_counter_ns
    for i in range(n):
        time.sleep(gap_s)  # pacing, as in the sporadic ring rows
        t0 = clock()
        os.write(wr, b"x")
        poller.poll(5000)
        os.read(rd, 64)
        samples[i] = clock() - t0
    _join(proc)
    os.close(wr)
    os.close(rd)
    return samples


def pipe_rtt(bench: Bench, n: int) -> np.ndarray:
    mine, theirs = CTX.Pipe()
    proc = bench.peer(peers.pipe_echo, theirs, n)
    theirs.close()
    samples = np.empty(n, np.int64)
    send, recv, clock, rec = mine.send_bytes, mine.recv_bytes, time.perf_counter_ns, peers.RECORD
    for i in range(n):
        t0 = clock()
        send(rec)
        recv()
        samples[i] = clock() - t0
    _join(proc)
    mine.close()
    return samples


def zmq_rtt(bench: Bench, n: int) -> np.ndarray:
    import zmq

    endpoint = f"ipc://{bench.dir}/rtt.sock"
    proc = bench.peer(peers.zmq_echo, endpoint, n)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PAIR)
    sock.setsockopt(zmq.RCVTIMEO, 10_000)
    sock.connect(endpoint)
    samples = np.empty(n, np.int64)
    send, recv, clock, rec = sock.send, sock.recv, time.perf_counter_ns, peers.RECORD
    for i in range(n):
        t0 = clock()
        send(rec)
        recv(copy=False)
        samples[i] = clock() - t0
    _join(proc)
    sock.close(linger=0)
    ctx.term()
    return samples


# -- one-way throughput ---------------------------------------------------------------------------


def ring_rate(bench: Bench, n: int, batched: bool) -> float:
    d = bench.dir
    # A deep ring absorbs the moments either side loses its core on a shared machine.
    capacity = 1 << 16 if batched else 8192
    with Ring.create("flow", RAW64, capacity, "block", directory=d, readers=1):
        reader = RingReader.attach("flow", RAW64, 0, directory=d, wait=BusySpin())
        proc = bench.peer(peers.ring_send, str(d), n, batched)
        want = n - n % peers.BATCH if batched else n
        seconds, cpu_s = _drain_ring(reader, want, batched, proc)
        _join(proc)
        reader.close()
    return bench.add_rate("ring batch 256" if batched else "ring single", want, seconds, cpu_s)


def _drain_ring(
    reader: RingReader, want: int, batched: bool, proc: Any
) -> tuple[float, float]:
    """Consume `want` records; seconds from the first record to the last.

    When it finds nothing the reader yields the core instead of re-reading the writer's
    cursor at once: hammering that cache line would slow every publish of the writer."""
    if reader.wait(30.0) == 0:
        raise RuntimeError(f"ring sender pid {proc.pid} sent nothing")
    read, advance, read_one, pause = reader.read, reader.advance, reader.read_one, os.sched_yield
    t0, c0 = time.perf_counter(), time.process_time()
    got = 0
    if batched:
        while got < want:
            k = len(read(peers.BATCH))
            if k:
                advance(k)
                got += k
            else:
                pause()
    else:
        while got < want:
            if read_one() is not None:
                got += 1
            else:
                pause()
    return time.perf_counter() - t0, time.process_time() - c0


def zmq_rate(bench: Bench, n: int, batched: bool) -> float:
    import zmq

    endpoint = f"ipc://{bench.dir}/flow.sock"
    go, theirs = CTX.Pipe()
    proc = bench.peer(peers.zmq_send, endpoint, n, batched, theirs)  # fork before any context
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PULL)
    sock.setsockopt(zmq.RCVTIMEO, 10_000)  # a dead peer fails the run instead of hanging it
    sock.bind(endpoint)
    go.send(True)  # the sender connects only once the bind exists
    frames = n // peers.BATCH if batched else n
    recv = sock.recv
    recv(copy=False)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(frames - 1):
        frame = recv(copy=False)
        if batched:
            np.frombuffer(frame.buffer, dtype=RAW64)  # the same reinterpretation a ring gives
    seconds, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    go.send(True)  # every frame is in: the sender may close now
    _join(proc)
    sock.close(linger=0)
    ctx.term()
    records = (frames - 1) * (peers.BATCH if batched else 1)
    label = "pyzmq PUSH/PULL ipc " + ("batch 256" if batched else "single")
    return bench.add_rate(label, records, seconds, cpu_s)


# -- idle CPU -------------------------------------------------------------------------------------


def parked_idle_cpu(bench: Bench) -> float:
    """CPU % of one core used by a blocking reader while its writer stays idle."""
    d = bench.dir
    with Ring.create("idle", RAW64, 64, "block", directory=d, readers=1):
        writer = RingWriter.attach("idle", RAW64, directory=d)
        ready, theirs = CTX.Pipe(duplex=False)
        window = bench.plan.idle_s
        proc = bench.peer(peers.idle_reader, str(d), theirs, window + 1.5)
        if not (ready.poll(10) and ready.recv()):
            raise RuntimeError(f"idle reader pid {proc.pid} did not attach within 10 s "
                               f"(exit code {proc.exitcode})")
        time.sleep(0.5)  # let it finish its spin phase and park
        ps = psutil.Process(proc.pid)
        before, t0 = ps.cpu_times(), time.monotonic()
        time.sleep(window)  # the measurement window itself, not a wait for a condition
        after, t1 = ps.cpu_times(), time.monotonic()
        _join(proc)
        writer.close()
    used = (after.user - before.user) + (after.system - before.system)
    pct = float(100.0 * used / (t1 - t0))
    bench.rows.append({"measure": "parked_reader_cpu_pct", "transport": "ring blocking",
                       "p50": round(pct, 3), "n": 1})
    return pct
