"""Topologies and daemons for the bridge: host a (market data) and host b (strategy, risk,
execution) as two nautilusd in two network namespaces, ticks bridged a -> b, fills b -> a.

Used by `nautilusctl bench bridge` and tests/integration/test_bridge_netns.py. Every daemon
gets its own instance name, state, runtime and shm directories under one scratch directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nautilusd import paths
from nautilusd.bench._netns import HostPair, Side
from nautilusd.ctl.client import ControlClient
from nautilusd.ctl.commands.keys import generate
from nautilusd.errors import NautilusdError
from shm import RingObserver
from shm.layout import FILL, TICK

TICKS_PORT, FILLS_PORT, BLAST_PORT, BUS_PORT, CONTROL_PORT = 7201, 7202, 7203, 7204, 7100
_ORDER_PATH = """
[engines.strategy]
entry = "engines.strategy:StrategyEngine"
after = [{after}]
cpus = [1]
spin_us = 300
[engines.strategy.params]
strategy_id = 1
alpha = 0.05
threshold_bps = 3.0
order_qty = 100
max_position = 1000
cooldown_ms = 50.0
order_ttl_ms = 500

[engines.risk]
entry = "engines.risk:RiskEngine"
after = ["strategy"]
cpus = [1]
spin_us = 300
[engines.risk.params]
max_order_qty = 1000
max_notional = 250000.0
max_position = 5000
max_gross = 20000
price_band_bps = 50.0
max_orders_per_s = 400
max_drawdown = 50000.0

[engines.execution]
entry = "engines.execution:ExecutionEngine"
after = ["risk"]
cpus = [0]
spin_us = 300
[engines.execution.params]
latency_us = 0.0
max_fill_fraction = 1.0
publish_executions = false

[rings.orders]
record = "order"
capacity = 8192
policy = "block"
writer = "strategy"
readers = ["risk"]

[rings.decisions]
record = "decision"
capacity = 8192
policy = "block"
writer = "risk"
readers = ["execution"]
"""
_MARKETDATA = """
[engines.marketdata]
entry = "engines.marketdata:MarketDataEngine"
cpus = [0]
[engines.marketdata.params]
source = "gbm"
seed = 7
rate_per_s = {rate}
sigma_per_sqrt_s = 0.002
spread_bps = 2.0
bars = false
max_batch = 8192
"""


@dataclass(slots=True)
class Host:
    """One nautilusd: its files, its namespace (None: the root one), its process."""

    name: str
    root: Path
    side: Side | None
    instance: str
    proc: subprocess.Popen[bytes] | None = None
    public_key: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def runtime_dir(self) -> Path:
        return self.root / "rt"

    @property
    def shm_dir(self) -> Path:
        return self.root / "shm"

    def header(self) -> str:
        return (f'symbols = ["AAPL", "MSFT", "ESZ6", "EURUSD"]\n[supervisor]\n'
                f'instance = "{self.instance}"\nmetrics_address = ""\n'
                f'shm_dir = "{self.shm_dir}"\nstate_dir = "{self.state_dir}"\n'
                f'shutdown_timeout_ms = 8000\n')

    def cmd(self, *argv: str) -> list[str]:
        return self.side.cmd(*argv) if self.side is not None else list(argv)

    def start(self, config: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "nautilusd.toml"
        path.write_text(config)
        log = open(self.root / "daemon.log", "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            self.cmd(sys.executable, "-m", "nautilusd.main", "run", "--config", str(path),
                     "--runtime-dir", str(self.runtime_dir)),
            stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def request(self, cmd: str, timeout_ms: int = 3000, **args: Any) -> Any:
        with ControlClient(paths.control_endpoint(self.runtime_dir), timeout_ms) as client:
            return client.request(cmd, **args)

    def status(self) -> dict[str, Any]:
        doc: dict[str, Any] = self.request("status")
        return doc

    def engine(self, name: str) -> dict[str, Any]:
        return next(e for e in self.status()["engines"] if e["name"] == name)

    def wait_ready(self, timeout_s: float = 40.0) -> None:
        deadline = time.monotonic() + timeout_s
        last = ""
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"nautilusd {self.name} exited {self.proc.returncode}: "
                                   f"{self.log_tail()}")
            try:
                doc = self.status()
                if doc["daemon"]["engines_ready"] == doc["daemon"]["engines_total"]:
                    return
                last = str([(e["name"], e["state"]) for e in doc["engines"]])
            except NautilusdError as exc:
                last = str(exc)
            time.sleep(0.2)
        raise RuntimeError(f"nautilusd {self.name} not ready in {timeout_s}s: {last}; "
                           f"{self.log_tail()}")

    def ring(self, name: str, dtype: np.dtype[Any]) -> np.ndarray:
        """Every record ring `name` still holds, oldest first."""
        obs = RingObserver.attach(paths.ring_segment(self.instance, name), dtype,
                                  directory=self.shm_dir)
        try:
            return obs.history(0)[1]
        finally:
            obs.close()

    def log_tail(self, n: int = 15) -> str:
        try:
            lines = (self.root / "daemon.log").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-n:])

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@contextmanager
def running(a: Host, b: Host, conf_a: str, conf_b: str) -> Iterator[None]:
    """b and a started on their configs (b first) and both READY; both stopped at the end."""
    try:
        b.start(conf_b)
        a.start(conf_a)
        b.wait_ready()
        a.wait_ready()
        yield
    finally:
        a.stop()
        b.stop()


def keys(*hosts: Host) -> None:
    for h in hosts:
        h.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        _, h.public_key = generate(h.state_dir)


def fleet(me: Host, peer: Host, my_address: str, peer_address: str) -> str:
    return (f'[fleet]\nhost = "{me.name}"\n'
            f'control_endpoint = "tcp://{my_address}:{CONTROL_PORT}"\n\n'
            f'[[peers]]\nname = "{peer.name}"\naddress = "{peer_address}"\n'
            f'public_key = "{peer.public_key}"\ncontrol_port = {CONTROL_PORT}\n')


def _engine(name: str, entry: str, cpus: int, **params: object) -> str:
    """An [engines.<name>] table on one cpu, with its params (JSON values are TOML values)."""
    lines = ["", f"[engines.{name}]", f'entry = "{entry}"', f"cpus = [{cpus}]",
             f"[engines.{name}.params]", *(f"{k} = {json.dumps(v)}" for k, v in params.items())]
    return "\n".join(lines) + "\n"


def _ring_sender(name: str, cpus: int, peer: str, port: int, record: str,
                 **params: object) -> str:
    return _engine(name, "engines.bridge:RingSenderEngine", cpus, peer=peer, port=port,
                   record=record, **params)


def _ring_receiver(name: str, cpus: int, peer: str, port: int, bind: str, record: str) -> str:
    return _engine(name, "engines.bridge:RingReceiverEngine", cpus, peer=peer, port=port,
                   bind=bind, record=record)


def _bus_link(peer: str, bind: str) -> str:
    """Bus bridges both ways with `peer` for system.engine. and risk.alerts."""
    return (_engine("bus_in", "engines.bridge:BusReceiverEngine", 0, peer=peer,
                    port=BUS_PORT, bind=bind)
            + _engine("bus_out", "engines.bridge:BusSenderEngine", 0, peer=peer,
                      port=BUS_PORT, topics=["system.engine.", "risk.alerts."]))


def _ring(name: str, record: str, capacity: int, policy: str, writer: str,
          readers: list[str], *, latest: bool = False) -> str:
    lines = ["", f"[rings.{name}]", f'record = "{record}"', f"capacity = {capacity}",
             f'policy = "{policy}"', *(["latest = true"] if latest else []),
             f'writer = "{writer}"', f"readers = {json.dumps(readers)}"]
    return "\n".join(lines) + "\n"


def _order_path_rings(ticks_writer: str, fills_readers: list[str]) -> str:
    """The order path's ticks (latest-value) and fills rings."""
    return (_ring("ticks", "tick", 16384, "overwrite", ticks_writer,
                  ["strategy", "risk", "execution"], latest=True)
            + _ring("fills", "fill", 65536, "block", "execution", fills_readers))


def bridged_configs(a: Host, b: Host, pair: HostPair, rate: float,
                    ticks_capacity: int = 16384) -> tuple[str, str]:
    """Host a: market data, ticks out, fills in. Host b: ticks in, the order path, fills out.
    Bus bridges both ways for system.engine. and risk.alerts. `ticks_capacity`: a's ticks
    ring (a small one laps the sender during an outage: the tick gap a test wants to see)."""
    ip_a, ip_b = pair.a.address, pair.b.address
    conf_a = (a.header() + _MARKETDATA.format(rate=rate)
              + _ring_sender("ticks_out", 0, "b", TICKS_PORT, "tick")
              + _ring_receiver("fills_in", 0, "b", FILLS_PORT, ip_a, "fill")
              + _bus_link("b", ip_a)
              + _ring("ticks", "tick", ticks_capacity, "overwrite", "marketdata", ["ticks_out"])
              + _ring("fills", "fill", 65536, "block", "fills_in", [])
              + fleet(a, b, ip_a, ip_b))
    conf_b = (b.header() + _ring_receiver("ticks_in", 1, "a", TICKS_PORT, ip_b, "tick")
              + _ORDER_PATH.format(after='"ticks_in"')
              + _ring_sender("fills_out", 0, "a", FILLS_PORT, "fill")
              + _bus_link("a", ip_b)
              + _order_path_rings("ticks_in", ["fills_out"])
              + fleet(b, a, ip_b, ip_a))
    return conf_a, conf_b


def local_config(host: Host, rate: float) -> str:
    """The same order path on one host, ticks straight from market data (the baseline)."""
    return (host.header() + _MARKETDATA.format(rate=rate)
            + _ORDER_PATH.format(after='"marketdata"') + _order_path_rings("marketdata", []))


def blast_configs(a: Host, b: Host, pair: HostPair, rate: float) -> tuple[str, str]:
    """Throughput: raw64 records at `rate`/s in large batches, an overwrite ring a -> b."""
    ip_a, ip_b = pair.a.address, pair.b.address
    conf_a = (a.header()
              + _engine("blast", "nautilusd.bench._blast:BlastEngine", 0, rate_per_s=rate,
                        max_batch=16384)
              + _ring_sender("blast_out", 1, "b", BLAST_PORT, "raw64", max_batch=16384,
                             overwrite_sndbuf_bytes=4194304)
              + _ring("blast", "raw64", 262144, "overwrite", "blast", ["blast_out"])
              + fleet(a, b, ip_a, ip_b))
    conf_b = (b.header() + _ring_receiver("blast_in", 0, "a", BLAST_PORT, ip_b, "raw64")
              + _ring("blast", "raw64", 262144, "overwrite", "blast_in", [])
              + fleet(b, a, ip_b, ip_a))
    return conf_a, conf_b


def tick_to_fill_us(fills: np.ndarray) -> np.ndarray:
    """Tick-to-fill of every executed fill (both stamps are this machine's CLOCK_REALTIME)."""
    done = fills[(fills["qty"] > 0) & (fills["origin_ts_ns"] > 0)]
    return np.asarray((done["ts_ns"] - done["origin_ts_ns"]) / 1000.0)


def hosts(root: Path, pair: HostPair | None, tag: str) -> tuple[Host, Host]:
    ident = f"{os.getpid()}{tag}"
    a = Host("a", root / f"a{tag}", pair.a if pair else None, f"bra{ident}")
    b = Host("b", root / f"b{tag}", pair.b if pair else None, f"brb{ident}")
    return a, b


__all__ = ["FILL", "TICK", "Host", "HostPair", "blast_configs", "bridged_configs", "hosts",
           "keys", "local_config", "running", "tick_to_fill_us"]
