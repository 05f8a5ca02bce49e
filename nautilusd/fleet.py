"""The fleet control endpoint: the control commands served over TCP with CURVE to other hosts.

Bound only when [fleet].control_endpoint is set; admits only the [[peers]] public keys
through a ZAP handler polled in the daemon's own loop (engines.bridge.zap); an unknown key
is refused at the handshake and counted (`fleet` command: `refused`). What an admitted peer
may run is its [[peers]] `allow` (read only by default); a refused command is counted
(`denied`) and logged (control_command_denied).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog
import zmq

from engines.bridge.keys import check_public_key, load_keypair
from engines.bridge.zap import ZapHandler
from nautilusd import fleetstats
from nautilusd.config.model import Topology
from nautilusd.control.commands.context import SupervisorApi
from nautilusd.control.permissions import grant
from nautilusd.control.server import ControlServer, ServerLoop

log = structlog.get_logger("nautilusd.fleet")


class FleetControl:
    """The CURVE control server and its ZAP handler, on a zmq context of their own."""

    def __init__(self, topology: Topology, state_dir: Path, supervisor: SupervisorApi[Topology],
                 loop: ServerLoop, endpoints: dict[str, str]) -> None:
        endpoint = topology.fleet.control_endpoint or ""
        public, secret = load_keypair(state_dir)
        grants = {check_public_key(p.public_key, f"[[peers]] {p.name}.public_key").decode():
                  grant(p.name, p.allow) for p in topology.peers.values()}
        self._loop = loop
        self.context: zmq.Context[Any] = zmq.Context()
        self.zap = ZapHandler(self.context, [k.encode() for k in grants])
        loop.add_reader(self.zap.socket, self._on_zap)
        self.server = ControlServer(endpoint, supervisor, loop, context=self.context,
                                    endpoints=endpoints, curve=(public, secret),
                                    grants=grants, on_denied=self._on_denied)
        fleetstats.CONTROL.update(self.counts())
        log.info("fleet_control_bound", endpoint=endpoint, peers={
            p.name: list(p.allow) for p in topology.peers.values()})

    def _on_zap(self) -> None:
        refused = self.zap.refused
        self.zap.handle()
        if self.zap.refused > refused:
            log.warning("fleet_peer_refused", address=self.zap.last_refused_address,
                        key=self.zap.last_refused_key, refused=self.zap.refused)
        fleetstats.CONTROL.update(self.counts())

    def _on_denied(self) -> None:
        fleetstats.CONTROL.update(self.counts())

    def counts(self) -> dict[str, int]:
        return {"accepted": self.zap.accepted, "refused": self.zap.refused,
                "denied": self.server.counters["denied"]}

    def close(self) -> None:
        self.server.close()
        self._loop.remove_reader(self.zap.socket)
        self.zap.close()
        self.context.term()
