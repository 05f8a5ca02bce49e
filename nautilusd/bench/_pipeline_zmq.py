"""The comparison transport for the pipeline bench: the same engine classes over pyzmq ipc.

Ring-shaped adapters (read/advance, claim/publish/write) carry raw record bytes over
PUB/SUB (ticks) and PUSH/PULL (orders, decisions, fills), so only the transport differs.
"""

from __future__ import annotations

import os
import select
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from engines.base import Engine, EngineContext
from engines.idle import SPIN_S
from engines.log import configure_logging, get_logger
from engines.rings import RecordReader, RecordWriter
from engines.runner import freeze_heap, load_engine_class, pin
from engines.spec import EngineConfig
from engines.statedir import StateDir
from nautilusd.forkserver import apply_nice
from shm import WaitKind
from shm.status import StatusTable

MAX_RECORDS = 1 << 16


class ZmqReader:
    """Looks like a RingReader to an engine: the records of every queued message, in order.

    `available()` takes what the socket has queued (as a ring reader sees what is published);
    `read()` gives them as a record array, `read_one()` one record's bytes at a time."""

    def __init__(self, sock: zmq.Socket[Any], dtype: np.dtype[Any]) -> None:
        self.sock, self.dtype = sock, dtype
        self.capacity, self.cursor, self.lost = MAX_RECORDS, 0, 0
        self.latest_slots = 0
        self._rs = dtype.itemsize
        self._data = memoryview(b"")
        self._off = 0  # byte offset of the next record in _data

    def _take(self) -> int:
        """Records buffered, after pulling every queued message when the buffer is empty."""
        left = (len(self._data) - self._off) // self._rs
        if left:
            return left
        parts: list[bytes] = []
        while len(parts) < MAX_RECORDS:
            try:
                parts.append(self.sock.recv(zmq.NOBLOCK))
            except zmq.Again:
                break
        if parts:
            self._data = memoryview(parts[0] if len(parts) == 1 else b"".join(parts))
            self._off = 0
        return (len(self._data) - self._off) // self._rs

    def available(self) -> int:
        return self._take()

    def read(self, max_n: int) -> np.ndarray:
        n = min(self._take(), max_n)
        return np.frombuffer(self._data, self.dtype, count=n, offset=self._off)

    def read_one(self) -> memoryview | None:
        if not self._take():
            return None
        off = self._off
        self._off = off + self._rs
        self.cursor += 1
        return self._data[off : off + self._rs]

    def advance(self, n: int) -> None:
        self._off += n * self._rs
        self.cursor += n

    def skip_to_end(self) -> int:
        n = self._take()
        self.advance(n)
        return n

    def latest(self, key: int) -> memoryview | None:
        """A socket keeps no latest-value board (latest_slots is 0)."""
        return None

    def history(self, start: int, end: int | None = None) -> tuple[int, np.ndarray]:
        """A socket keeps nothing of what it delivered: no records to read back."""
        return self.cursor, np.zeros(0, self.dtype)

    def close(self) -> None:
        self.sock.close(linger=0)


class ZmqWriter:
    """Looks like a RingWriter: claim/publish, write and write_bytes send one message each."""

    def __init__(self, sock: zmq.Socket[Any], dtype: np.dtype[Any]) -> None:
        self.sock, self.dtype = sock, dtype
        self.capacity, self.cursor = MAX_RECORDS, 0
        self._scratch = np.zeros(MAX_RECORDS, dtype)
        self._claimed = 0

    def history(self, start: int, end: int | None = None) -> tuple[int, np.ndarray]:
        """A socket keeps nothing of what it sent: no records to read back."""
        return self.cursor, self._scratch[:0].copy()

    def claim(self, n: int, timeout_s: float | None = None) -> np.ndarray:
        self._claimed = n
        return self._scratch[:n]

    def try_claim(self, n: int) -> np.ndarray | None:
        return self.claim(n)  # sends never wait here

    def publish(self) -> None:
        self.sock.send(self._scratch[: self._claimed].tobytes(), copy=True)
        self.cursor += self._claimed

    def write(self, records: np.ndarray, timeout_s: float | None = None) -> int:
        self.sock.send(np.ascontiguousarray(records).tobytes())
        self.cursor += len(records)
        return len(records)

    def write_bytes(self, record: bytes | bytearray | memoryview) -> bool:
        self.sock.send(record, copy=True)
        self.cursor += 1
        return True

    def free(self) -> int:
        return MAX_RECORDS  # a zmq queue has no fixed room; sends never wait here

    def has_room(self, n: int) -> bool:
        return True  # as free(): sends never wait here

    def close(self) -> None:
        self.sock.close(linger=0)


Wiring = dict[str, tuple[str, np.dtype[Any]]]  # ring name -> (endpoint, record layout)


def _sockets(zctx: zmq.Context[Any], inputs: Wiring, outputs: Wiring
             ) -> tuple[dict[str, ZmqReader], dict[str, ZmqWriter]]:
    """Bind every output (PUB for ticks, PUSH otherwise), connect every input."""
    readers: dict[str, ZmqReader] = {}
    writers: dict[str, ZmqWriter] = {}
    for name, (endpoint, dtype) in outputs.items():
        sock = zctx.socket(zmq.PUB if name == "ticks" else zmq.PUSH)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(endpoint)
        writers[name] = ZmqWriter(sock, dtype)
    for name, (endpoint, dtype) in inputs.items():
        sock = zctx.socket(zmq.SUB if name == "ticks" else zmq.PULL)
        sock.setsockopt(zmq.LINGER, 0)
        if name == "ticks":
            sock.setsockopt(zmq.SUBSCRIBE, b"")
        sock.connect(endpoint)
        readers[name] = ZmqReader(sock, dtype)
    return readers, writers


def run_stage(cfg: EngineConfig, slot: int, status_segment: str, shm_dir: str,
              inputs: Wiring, outputs: Wiring,
              symbols: tuple[str, ...], runtime_dir: str) -> None:
    """Child body: build the engine on zmq adapters and drive poll() like the runner does."""
    configure_logging("json", "error", instance="bench", engine=cfg.name)  # keep stdout clean
    if cfg.cpus:  # as the runner does, before anything else (zmq's I/O thread inherits it)
        pin(cfg.cpus)
    if cfg.nice is not None:  # the same priority as on the ring side
        apply_nice(cfg.nice)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    zctx = zmq.Context()
    readers, writers = _sockets(zctx, inputs, outputs)
    table = StatusTable.attach(status_segment, directory=shm_dir)
    status = table.slot(slot)
    ring_readers: dict[str, RecordReader] = dict(readers)
    ring_writers: dict[str, RecordWriter] = dict(writers)
    ctx = EngineContext(name=cfg.name, config=cfg, params=cfg.params, symbols=symbols,
                        log=get_logger(engine=cfg.name), status=status, readers=ring_readers,
                        writers=ring_writers, bus_pub_endpoint=f"ipc://{runtime_dir}/zbus-in.sock",
                        bus_sub_endpoint=f"ipc://{runtime_dir}/zbus-out.sock",
                        runtime_dir=Path(runtime_dir),
                        state_dir=StateDir.create(Path(runtime_dir) / "zstate").path)
    engine = load_engine_class(cfg.entry or "")(ctx)
    engine.on_start()
    freeze_heap()  # as the runner does
    status.set_ready(True)
    # A hot spin (spin = "hot") is not copied: looking without yielding would keep this
    # process's own zmq I/O thread, on the same cores, from moving its messages.
    spin_us = SPIN_S * 1e6 if cfg.spin_us is None else cfg.spin_us
    _drive(engine, readers, cfg.wait, int(spin_us * 1000), stop)
    engine.on_stop()
    ctx.close()
    table.close()
    zctx.term()
    os._exit(0)


def _drive(engine: Engine, readers: dict[str, ZmqReader], wait: WaitKind, spin_ns: int,
           stop: dict[str, bool]) -> None:
    """poll() until SIGTERM; idle like the runner: spin/yield kinds never sleep; blocking
    watches its input sockets for `spin_ns` after work (sched_yield between looks), then
    sleeps in zmq_poll."""
    poller = zmq.Poller()
    for r in readers.values():
        poller.register(r.sock, zmq.POLLIN)
    for handle in engine.wait_handles():
        poller.register(handle, zmq.POLLIN)
    spin = wait in (WaitKind.YIELDING, WaitKind.BUSY_SPIN)
    fine = not readers and not engine.wait_handles()  # a producer: pace below 1 ms (runner)
    budget_ns = spin_ns if wait is WaitKind.BLOCKING and readers else 0
    inputs, clock, yield_ = tuple(readers.values()), time.perf_counter_ns, os.sched_yield
    worked = False
    while not stop["now"]:
        if engine.poll() or any(r.available() for r in inputs):
            worked = True
            continue
        if spin:  # same wait as on rings: never sleep, give the core away between polls
            if wait is WaitKind.YIELDING:
                yield_()
            continue
        if worked and budget_ns:  # the runner's post-work spin, over the sockets
            worked = False
            deadline = clock() + budget_ns
            while not any(r.available() for r in inputs) and clock() < deadline:
                yield_()
            continue
        wake = engine.next_wakeup_s()
        timeout_s = 0.25 if wake is None else min(wake, 0.25)
        if fine and 0 < timeout_s < 0.001:
            select.select([], [], [], timeout_s)
        elif timeout_s > 0:
            poller.poll(max(1, int(timeout_s * 1000)))
