"""Two simulated hosts on one machine: two network namespaces joined by a veth pair.

`HostPair` creates them (root only), names everything after this process so parallel runs
do not collide, and removes every namespace it made on close (the veth goes with them).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from types import TracebackType


def available() -> str:
    """"" when namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "tc", "tcpdump"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode:
            return f"{tool} (iproute2) is not installed"
    return ""


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check)


@dataclass(frozen=True, slots=True)
class Side:
    netns: str
    iface: str
    address: str

    def cmd(self, *argv: str) -> list[str]:
        """argv run inside this namespace."""
        return ["ip", "netns", "exec", self.netns, *argv]


class HostPair:
    """Namespaces `a` and `b` with addresses 10.X.Y.1 and .2 on a veth /30."""

    def __init__(self, tag: str = "") -> None:
        ident = f"{os.getpid() % 100000}{tag}"
        third = (os.getpid() // 64) % 250
        fourth = (os.getpid() % 64) * 4
        subnet = f"10.{210 + len(tag) % 40}.{third}"
        self.a = Side(f"nd-a{ident}", f"va{ident}"[:15], f"{subnet}.{fourth + 1}")
        self.b = Side(f"nd-b{ident}", f"vb{ident}"[:15], f"{subnet}.{fourth + 2}")
        self._made: list[str] = []
        try:
            self._create()
        except BaseException:
            self.close()
            raise

    def _create(self) -> None:
        for side in (self.a, self.b):
            sh("ip", "netns", "add", side.netns)
            self._made.append(side.netns)
        sh("ip", "link", "add", self.a.iface, "type", "veth", "peer", "name", self.b.iface)
        for side in (self.a, self.b):
            sh("ip", "link", "set", side.iface, "netns", side.netns)
            sh(*side.cmd("ip", "addr", "add", f"{side.address}/30", "dev", side.iface))
            sh(*side.cmd("ip", "link", "set", side.iface, "up"))
            sh(*side.cmd("ip", "link", "set", "lo", "up"))

    def link(self, up: bool) -> None:
        sh(*self.a.cmd("ip", "link", "set", self.a.iface, "up" if up else "down"))

    def loss(self, percent: int | None) -> str:
        """Drop `percent` % of the packets on a's side of the veth, both ways (None: stop);
        returns how: `tc qdisc netem loss`, or, on a kernel built without netem
        (CONFIG_NET_SCH_NETEM), an nftables rule dropping at random (numgen) instead."""
        if percent is None:
            sh(*self.a.cmd("tc", "qdisc", "del", "dev", self.a.iface, "root"), check=False)
            sh(*self.a.cmd("nft", "delete", "table", "inet", "nd_loss"), check=False)
            return ""
        netem = sh(*self.a.cmd("tc", "qdisc", "add", "dev", self.a.iface, "root", "netem",
                               "loss", f"{percent}%"), check=False)
        if netem.returncode == 0:
            return "netem"
        if percent <= 0 or percent >= 100:
            raise ValueError(f"loss {percent}% not in 1..99")
        rules = (f'table inet nd_loss {{\n chain out {{ type filter hook output priority 0; '
                 f'oifname "{self.a.iface}" numgen random mod 100 < {percent} drop; }}\n'
                 f' chain in {{ type filter hook input priority 0; '
                 f'iifname "{self.a.iface}" numgen random mod 100 < {percent} drop; }}\n}}\n')
        subprocess.run(self.a.cmd("nft", "-f", "-"), input=rules, text=True, check=True,
                       capture_output=True)
        return f"nft numgen (no netem: {netem.stderr.strip()})"

    def close(self) -> None:
        while self._made:
            sh("ip", "netns", "del", self._made.pop(), check=False)

    def __enter__(self) -> HostPair:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def leftovers(pair_prefix: str = "nd-") -> list[str]:
    """Namespaces named like ours that still exist (a test asserts none of its own stay)."""
    out = sh("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(pair_prefix)]
