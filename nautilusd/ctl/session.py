"""One nautilusctl run: its parsed options, its output streams and its control client.

The client is opened on first use and closed with the session, so a command that never
talks to the daemon (logs, check, bench) never touches the control socket.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from types import TracebackType
from typing import Self, TextIO

from nautilusd import paths
from nautilusd.ctl.client import ControlClient


class Session:
    def __init__(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
        self.args = args
        self.out = out
        self.err = err
        self.runtime_dir = (Path(args.runtime_dir) if args.runtime_dir
                            else paths.default_runtime_dir(args.instance))
        self.timeout_ms: int = args.timeout_ms
        self._control: ControlClient | None = None

    def control(self) -> ControlClient:
        """The daemon's control client (created on first use)."""
        if self._control is None:
            local = ControlClient(paths.control_endpoint(self.runtime_dir),
                                  timeout_ms=self.timeout_ms)
            host = getattr(self.args, "host", None)
            if host:  # a peer's daemon, over its CURVE control endpoint (nautilusd.ctl.remote)
                from nautilusd.ctl.remote import fleet_info, peer_client

                with local:
                    self._control = peer_client(fleet_info(local), host, self.timeout_ms)
            else:
                self._control = local
        return self._control

    def write(self, text: str) -> None:
        """One line (or block) of output, flushed: a live view or a tail shows it at once."""
        self.out.write(text + "\n")
        self.out.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
