"""The far side of each ring benchmark, run in a forked process pinned to its own core.

Echo loops for round trips (ring, Pipe, pyzmq PAIR), senders for one-way throughput (ring;
pyzmq PUSH/PULL, since PAIR lost frames here under load), and an idle parked reader for the
CPU measurement. Each function runs a fixed count and returns.
"""

from __future__ import annotations

import os
import select
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import psutil

from shm import Blocking, BusySpin, RingReader, RingWriter, Yielding
from shm.layout import RAW64

RECORD = bytes(range(64))
BATCH = 256


def pin(cpu: int | None) -> None:
    """Pin the calling process to `cpu` and verify it (None: leave the affinity alone)."""
    if cpu is None:
        return
    proc = psutil.Process()
    proc.cpu_affinity([cpu])
    if proc.cpu_affinity() != [cpu]:
        raise RuntimeError(f"could not pin pid {proc.pid} to cpu {cpu}")


def ring_echo(directory: str, n: int, blocking: bool, spin_s: float, cpu: int | None) -> None:
    """Read each record from ring `ping` and write it back to ring `pong`, n times."""
    pin(cpu)
    wait = Blocking(spin_s=spin_s) if blocking else BusySpin()
    reader = RingReader.attach("ping", RAW64, 0, directory=directory, wait=wait)
    writer = RingWriter.attach("pong", RAW64, directory=directory)
    read_one, write_bytes, wait_for = reader.read_one, writer.write_bytes, reader.wait
    for _ in range(n):
        rec = read_one()
        while rec is None:
            if blocking:
                wait_for(5.0)
            rec = read_one()
        write_bytes(rec)
    reader.close()
    writer.close()


def pipe_echo(conn: Connection, n: int, cpu: int | None) -> None:
    pin(cpu)
    recv, send = conn.recv_bytes, conn.send_bytes
    for _ in range(n):
        send(recv())
    conn.close()


def zmq_echo(endpoint: str, n: int, cpu: int | None) -> None:
    import zmq

    pin(cpu)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PAIR)
    sock.bind(endpoint)
    recv, send = sock.recv, sock.send
    for _ in range(n):
        send(recv(copy=False), copy=False)
    sock.close(linger=0)
    ctx.term()


def ring_send(directory: str, n: int, batched: bool, cpu: int | None) -> None:
    """Write n records to ring `flow`, one per call or in batches of BATCH."""
    pin(cpu)
    # A full ring yields the core: rescanning the readers' cursors at once would only slow
    # the reader down by stealing its cache line.
    writer = RingWriter.attach("flow", RAW64, directory=directory, wait=Yielding(spins=0))
    if batched:
        batch = np.frombuffer(RECORD * BATCH, dtype=RAW64)
        write = writer.write
        for _ in range(n // BATCH):
            write(batch, 30.0)
    else:
        write_bytes, pause = writer.write_bytes, os.sched_yield
        for _ in range(n):
            while not write_bytes(RECORD):
                pause()
    writer.close()


def zmq_send(endpoint: str, n: int, batched: bool, go: Connection, cpu: int | None) -> None:
    import zmq

    pin(cpu)
    if not go.poll(30) or not go.recv():
        raise RuntimeError("the receiver never bound its socket")
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUSH)
    sock.connect(endpoint)
    send = sock.send
    if batched:
        frame = RECORD * BATCH
        for _ in range(n // BATCH):
            send(frame, copy=False)
    else:
        for _ in range(n):
            send(RECORD)
    # Stay connected until the receiver has counted every frame: with the connection
    # closed early, libzmq drops the last few hundred frames queued on the receiver's side
    # of it (seen here: ~450 of 600,000, one run in eight), and the receiver times out.
    if not go.poll(60) or not go.recv():
        raise RuntimeError("the receiver never confirmed it got every frame")
    sock.close(linger=0)
    ctx.term()


def idle_reader(directory: str, ready: Connection, seconds: float, cpu: int | None) -> None:
    """Park on ring `idle` with the blocking wait for `seconds` while nothing is written."""
    pin(cpu)
    reader = RingReader.attach("idle", RAW64, 0, directory=directory, wait=Blocking())
    ready.send(True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        reader.wait(max(0.0, deadline - time.monotonic()))
    reader.close()


def scratch_dir(root: Path, tag: str) -> Path:
    path = root / f"nautilusd-bench-{tag}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def fifo_echo(ping: str, pong: str, n: int, cpu: int | None) -> None:
    """Bare FIFO ping-pong, parked in poll: the kernel's (and hypervisor's) wake-up floor."""
    pin(cpu)
    rd = os.open(ping, os.O_RDWR | os.O_NONBLOCK)
    wr = os.open(pong, os.O_RDWR | os.O_NONBLOCK)
    poller = select.poll()
    poller.register(rd, select.POLLIN)
    for _ in range(n):
        poller.poll(5000)
        os.read(rd, 64)
        os.write(wr, b"x")
    os.close(rd)
    os.close(wr)
