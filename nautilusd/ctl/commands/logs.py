"""logs: an engine's log records from the sink the daemon recorded: journald, or a file (the
runtime dir's log under `make run`, supervisord's stdout_logfile, a redirected stdout).

No wire message: the sink is read from <runtime_dir>/log-sink.json (nautilusd.logsink);
journalctl (`ENGINE=<name>`) runs as a child, a file is filtered by its records' "engine".
CLI:  nautilusctl logs ENGINE [-f] [-n N] [--since T] [--json]
      e.g. `nautilusctl logs risk -n 50`, `nautilusctl logs risk --since 10m`,
      `nautilusctl logs risk -f --json | jq .event`
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from collections import deque
from pathlib import Path
from typing import Any

from nautilusd import logsink, paths
from nautilusd.control.commands.spec import EXIT_FAILED, EXIT_OK
from nautilusd.ctl import child
from nautilusd.ctl.local import Local
from nautilusd.ctl.session import Session
from nautilusd.ctl.since import parse_since, record_epoch_s

NAME = "logs"
LOG_LINES = 200
FOLLOW_POLL_S = 0.2  # a follow looks for new lines this often (an operator's tail -f)


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("engine", help="an engine instance name, e.g. risk, or nautilusd")
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new records")
    parser.add_argument("-n", "--lines", type=int, default=LOG_LINES,
                        help=f"how many of the latest records (default {LOG_LINES})")
    parser.add_argument("--since", type=parse_since, default=None, metavar="T",
                        help="only records at or after T: an age (90s, 10m, 2h, 1d) or an "
                             "ISO-8601 time (UTC unless it names a zone)")


def main(args: argparse.Namespace, session: Session) -> int:
    sink = logsink.read(session.runtime_dir) or _guess(session.runtime_dir, args.engine)
    if sink.get("kind") == "journald":
        return _journal(args, session)
    path = sink.get("path")
    if sink.get("kind") == "file" and isinstance(path, str) and Path(path).is_file():
        return _file(Path(path), args, session)
    session.err.write(f"no logs for engine {args.engine!r}: the daemon logs to "
                      f"{sink.get('kind', 'nowhere known')} and no journal records or log file "
                      f"were found (runtime dir {session.runtime_dir})\n")
    return EXIT_FAILED


def _guess(runtime_dir: Path, engine: str) -> dict[str, Any]:
    """No recorded sink (no daemon ran here): journald if it has the engine's records."""
    journalctl = shutil.which("journalctl")
    if journalctl:
        probe = subprocess.run([journalctl, "-q", "-o", "cat", "-n", "1", f"ENGINE={engine}"],
                               capture_output=True, text=True, check=False, timeout=10)
        if probe.returncode == 0 and probe.stdout.strip():
            return {"kind": "journald"}
    return {"kind": "file", "path": str(paths.log_file(runtime_dir))}


def _journal(args: argparse.Namespace, session: Session) -> int:
    journalctl = shutil.which("journalctl")
    if journalctl is None:
        session.err.write("the daemon logs to journald but journalctl is not installed\n")
        return EXIT_FAILED
    argv = [journalctl, "-q", "--no-pager", "-o", "json" if args.json else "cat", "-n",
            str(args.lines), *(["-f"] if args.follow else []),
            *([f"--since=@{args.since:.6f}"] if args.since is not None else []),
            f"ENGINE={args.engine}"]
    return child.run(argv, session.out, session.err, interrupted=EXIT_OK)


def _file(path: Path, args: argparse.Namespace, session: Session) -> int:
    """The engine's records of a JSON-lines log file; with -f, new ones as they come."""
    with path.open(errors="replace") as f:
        wanted = (ln for ln in f if _matches(ln, args.engine, args.since))
        for line in deque(wanted, maxlen=args.lines):
            session.write(_show(line, args.json))
        while args.follow:
            line = f.readline()
            if not line:
                time.sleep(FOLLOW_POLL_S)  # no inotify in the stdlib; an idle tail costs ~0
                continue
            if _matches(line, args.engine, args.since):
                session.write(_show(line, args.json))
    return EXIT_OK


def _matches(line: str, engine: str, since_s: float | None = None) -> bool:
    if f'"{engine}"' not in line:
        return False  # most lines: no parse
    try:
        record = json.loads(line)
    except ValueError:
        return False
    if not isinstance(record, dict) or record.get("engine") != engine:
        return False
    if since_s is None:
        return True
    stamp = record_epoch_s(record.get("timestamp"))
    return stamp is not None and stamp >= since_s  # an undated record is outside any window


def _show(line: str, as_json: bool) -> str:
    """The record as stored (--json), or `time level event key=value ...`."""
    if as_json:
        return line.rstrip("\n")
    record = json.loads(line)
    head = [str(record.pop(k, "")) for k in ("timestamp", "level", "event")]
    for key in ("engine", "instance"):
        record.pop(key, None)
    rest = " ".join(f"{k}={v}" for k, v in record.items())
    return " ".join([*head, rest]).rstrip()


COMMAND = Local(name=NAME, help="an engine's log records, wherever the daemon logs",
                arguments=arguments, main=main)
