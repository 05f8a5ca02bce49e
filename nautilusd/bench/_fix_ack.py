"""fix_order_to_ack: NewOrderSingle to its ExecutionReport (ExecType=New) through the FIX
session layer the gateway uses, against the test acceptor (python -m engines.fix.acceptor),
its own process on loopback. One order in flight at a time, matched by ClOrdID; limit orders
away from the acceptor's touch, so each is only acknowledged (the acceptor appends each
order to its record file before it answers: that is part of the venue's time).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engines.fix import FixSession, MemorySeqStore

ROOT = Path(__file__).resolve().parents[2]


class FixBenchError(RuntimeError):
    """The acceptor or the session failed: the figure is not measured (the bench exits 1)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _until_ack(sock: socket.socket, session: FixSession, cl_ord_id: bytes | None,
               deadline: float) -> None:
    """Read until the Logon answer (cl_ord_id None) or the New report of that order."""
    while time.monotonic() < deadline:
        data = sock.recv(65536)
        if not data:
            raise FixBenchError("the acceptor closed the session")
        for msg in session.on_bytes(data):
            if msg.get(11) == cl_ord_id and msg.get(150) == b"0":
                return
        if cl_ord_id is None and session.up:
            return
    raise FixBenchError(f"no answer for {cl_ord_id!r} in time")


def order_to_ack_ns(n: int) -> list[int]:
    """`n` NewOrderSingle -> ExecutionReport(New) round trips, in ns."""
    workdir = Path(tempfile.mkdtemp(prefix="nautilusd-fixbench-"))
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "engines.fix.acceptor", "--port", str(port),
                             "--dir", str(workdir)], cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not (workdir / "listening").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise FixBenchError(f"the acceptor did not listen (exit {proc.returncode})")
            time.sleep(0.01)
        session = FixSession("NAUTILUSD", "VENUE", MemorySeqStore(), heartbeat_s=30)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            session.logon()
            sock.sendall(b"".join(session.outbox))
            session.outbox.clear()
            _until_ack(sock, session, None, time.monotonic() + 10)
            out = []
            for i in range(1, n + 1):
                t0 = time.perf_counter_ns()
                session.send_app("D", [(11, i), (55, "AAPL"), (54, "1"), (38, 100), (40, "2"),
                                       (44, "50.0"), (59, "0")])
                sock.sendall(b"".join(session.outbox))
                session.outbox.clear()
                _until_ack(sock, session, str(i).encode(), time.monotonic() + 5)
                out.append(time.perf_counter_ns() - t0)
            return out
    finally:
        proc.kill()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
