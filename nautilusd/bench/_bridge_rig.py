"""Topologies and daemons for the bridge: host a (market data) and host b (strategy, risk,
execution) as two nautilusd in two network namespaces, ticks bridged a -> b, fills b -> a.

Used by `nautilusctl bench bridge` and tests/integration/test_bridge_netns.py. Every daemon
gets its own instance name, state, runtime and shm directories under one scratch directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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


def keys(*hosts: Host) -> None:
    for h in hosts:
        h.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        _, h.public_key = generate(h.state_dir)


def fleet(me: Host, peer: Host, my_address: str, peer_address: str) -> str:
    return (f'[fleet]\nhost = "{me.name}"\n'
            f'control_endpoint = "tcp://{my_address}:{CONTROL_PORT}"\n\n'
            f'[[peers]]\nname = "{peer.name}"\naddress = "{peer_address}"\n'
            f'public_key = "{peer.public_key}"\ncontrol_port = {CONTROL_PORT}\n')


def bridged_configs(a: Host, b: Host, pair: HostPair, rate: float,
                    ticks_capacity: int = 16384) -> tuple[str, str]:
    """Host a: market data, ticks out, fills in. Host b: ticks in, the order path, fills out.
    Bus bridges both ways for system.engine. and risk.alerts. `ticks_capacity`: a's ticks
    ring (a small one laps the sender during an outage: the tick gap a test wants to see)."""
    ip_a, ip_b = pair.a.address, pair.b.address
    conf_a = a.header() + _MARKETDATA.format(rate=rate) + f"""
[engines.ticks_out]
entry = "engines.bridge:RingSenderEngine"
cpus = [0]
[engines.ticks_out.params]
peer = "b"
port = {TICKS_PORT}
record = "tick"

[engines.fills_in]
entry = "engines.bridge:RingReceiverEngine"
cpus = [0]
[engines.fills_in.params]
peer = "b"
port = {FILLS_PORT}
bind = "{ip_a}"
record = "fill"

[engines.bus_in]
entry = "engines.bridge:BusReceiverEngine"
cpus = [0]
[engines.bus_in.params]
peer = "b"
port = {BUS_PORT}
bind = "{ip_a}"

[engines.bus_out]
entry = "engines.bridge:BusSenderEngine"
cpus = [0]
[engines.bus_out.params]
peer = "b"
port = {BUS_PORT}
topics = ["system.engine.", "risk.alerts."]

[rings.ticks]
record = "tick"
capacity = {ticks_capacity}
policy = "overwrite"
writer = "marketdata"
readers = ["ticks_out"]

[rings.fills]
record = "fill"
capacity = 65536
policy = "block"
writer = "fills_in"
readers = []
""" + fleet(a, b, ip_a, ip_b)
    conf_b = b.header() + f"""
[engines.ticks_in]
entry = "engines.bridge:RingReceiverEngine"
cpus = [1]
[engines.ticks_in.params]
peer = "a"
port = {TICKS_PORT}
bind = "{ip_b}"
record = "tick"
""" + _ORDER_PATH.format(after='"ticks_in"') + f"""
[engines.fills_out]
entry = "engines.bridge:RingSenderEngine"
cpus = [0]
[engines.fills_out.params]
peer = "a"
port = {FILLS_PORT}
record = "fill"

[engines.bus_in]
entry = "engines.bridge:BusReceiverEngine"
cpus = [0]
[engines.bus_in.params]
peer = "a"
port = {BUS_PORT}
bind = "{ip_b}"

[engines.bus_out]
entry = "engines.bridge:BusSenderEngine"
cpus = [0]
[engines.bus_out.params]
peer = "a"
port = {BUS_PORT}
topics = ["system.engine.", "risk.alerts."]

[rings.ticks]
record = "tick"
capacity = 16384
policy = "overwrite"
latest = true
writer = "ticks_in"
readers = ["strategy", "risk", "execution"]

[rings.fills]
record = "fill"
capacity = 65536
policy = "block"
writer = "execution"
readers = ["fills_out"]
""" + fleet(b, a, ip_b, ip_a)
    return conf_a, conf_b


def local_config(host: Host, rate: float) -> str:
    """The same order path on one host, ticks straight from market data (the baseline)."""
    return host.header() + _MARKETDATA.format(rate=rate) + _ORDER_PATH.format(
        after='"marketdata"') + """
[rings.ticks]
record = "tick"
capacity = 16384
policy = "overwrite"
latest = true
writer = "marketdata"
readers = ["strategy", "risk", "execution"]

[rings.fills]
record = "fill"
capacity = 65536
policy = "block"
writer = "execution"
readers = []
"""


def blast_configs(a: Host, b: Host, pair: HostPair, rate: float) -> tuple[str, str]:
    """Throughput: raw64 records at `rate`/s in large batches, an overwrite ring a -> b."""
    conf_a = a.header() + f"""
[engines.blast]
entry = "nautilusd.bench._blast:BlastEngine"
cpus = [0]
[engines.blast.params]
rate_per_s = {rate}
max_batch = 16384

[engines.blast_out]
entry = "engines.bridge:RingSenderEngine"
cpus = [1]
[engines.blast_out.params]
peer = "b"
port = {BLAST_PORT}
record = "raw64"
max_batch = 16384
overwrite_sndbuf_bytes = 4194304

[rings.blast]
record = "raw64"
capacity = 262144
policy = "overwrite"
writer = "blast"
readers = ["blast_out"]
""" + fleet(a, b, pair.a.address, pair.b.address)
    conf_b = b.header() + f"""
[engines.blast_in]
entry = "engines.bridge:RingReceiverEngine"
cpus = [0]
[engines.blast_in.params]
peer = "a"
port = {BLAST_PORT}
bind = "{pair.b.address}"
record = "raw64"

[rings.blast]
record = "raw64"
capacity = 262144
policy = "overwrite"
writer = "blast_in"
readers = []
""" + fleet(b, a, pair.b.address, pair.a.address)
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
           "keys", "local_config", "tick_to_fill_us"]
