"""since: the start of a time window an operator names on the command line (`--since`).

Accepts what journalctl's users type: a relative age (`90s`, `10m`, `2h`, `1d`) or an ISO-8601
time (`2026-12-07T07:45:00Z`; a time without a zone is UTC). Returns seconds since the epoch.
"""

from __future__ import annotations

import argparse
import re
import time
from datetime import UTC, datetime

_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_since(text: str, now_s: float | None = None) -> float:
    """Epoch seconds for `text`; argparse.ArgumentTypeError naming the value otherwise."""
    age = _AGE.match(text.strip())
    if age:
        now = time.time() if now_s is None else now_s
        return now - float(age.group(1)) * _UNIT_S[age.group(2)]
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--since: not a time or an age: {text!r} (e.g. 10m, 2h, 2026-12-07T07:45:00Z)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def record_epoch_s(stamp: object) -> float | None:
    """A log record's ISO timestamp as epoch seconds; None when it has none we can read."""
    if not isinstance(stamp, str):
        return None
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
