"""What a client-only nautilusctl command declares: its arguments and how it runs.

Each module in nautilusd/ctl/commands/ ends with `COMMAND = Local(...)`; `main(args,
session)` returns the exit code and may raise the client's errors, which nautilusctl maps
to exit codes like a daemon command's (no daemon 3, denied 4, error reply 1).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from nautilusd.control.commands.spec import Arguments
from nautilusd.ctl.session import Session


@dataclass(frozen=True, kw_only=True, slots=True)
class Local:
    name: str
    help: str
    arguments: Arguments
    main: Callable[[argparse.Namespace, Session], int]
