"""`nautilusctl`: drive a running nautilusd over its control socket, read its logs and bus.

The parser and the dispatch come from the command registry (nautilusd.ctl.commands). Client
side only: it imports no engine and no ring code (bench, chaos and check run as children).
Exit codes: 0 ok, 1 command failed, 2 usage (health: down), 3 no daemon, 4 permission denied.
A reader that closes stdout early (`nautilusctl events | head -1`) ends the run quietly, exit 0.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TextIO

from nautilusd.control.commands import Remote, UsageError
from nautilusd.control.commands.spec import (
    EXIT_DENIED,
    EXIT_FAILED,
    EXIT_NOT_RUNNING,
    EXIT_OK,
    EXIT_USAGE,
    HEALTH_DOWN,
    SECOND_READING_S,
)
from nautilusd.ctl.client import DaemonNotRunning, PermissionDenied, RequestTimeout
from nautilusd.ctl.commands import CLI
from nautilusd.ctl.local import Local
from nautilusd.ctl.parser import build_parser, parse
from nautilusd.ctl.session import Session
from nautilusd.errors import ControlError

__all__ = ["EXIT_DENIED", "EXIT_FAILED", "EXIT_NOT_RUNNING", "EXIT_OK", "EXIT_USAGE",
           "HEALTH_DOWN", "build_parser", "main"]


def main(argv: list[str] | None = None, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    stream = out or sys.stdout
    try:
        args = parse(CLI, argv)
        with Session(args, stream, err or sys.stderr) as session:
            return _dispatch(args.command, CLI[args.command], session)
    except BrokenPipeError:
        return _reader_gone(stream)


def _reader_gone(stream: TextIO) -> int:
    """stdout's reader went away: point its descriptor at /dev/null, so that what is still
    buffered (flushed at interpreter exit) raises nothing, and end quietly."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError):  # a stream with no descriptor (io.StringIO)
        return EXIT_OK
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)
    return EXIT_OK


def _dispatch(name: str, command: Remote | Local, session: Session) -> int:
    """Run one command; the client's errors become one line on stderr and an exit code."""
    unreachable = command.unreachable_exit if isinstance(command, Remote) else None
    try:
        if isinstance(command, Local):
            return command.main(session.args, session)
        return _remote(name, command, session)
    except UsageError as exc:
        return _fail(session, str(exc), EXIT_USAGE)
    except DaemonNotRunning as exc:
        return _fail(session, str(exc), EXIT_NOT_RUNNING if unreachable is None else unreachable)
    except PermissionDenied as exc:
        return _fail(session, str(exc), EXIT_DENIED if unreachable is None else unreachable)
    except RequestTimeout as exc:
        return _fail(session, str(exc), EXIT_FAILED if unreachable is None else unreachable)
    except ControlError as exc:  # an error reply (RemoteError) or a malformed one
        return _fail(session, f"error: {exc.code}: {exc.message}", EXIT_FAILED)
    except KeyboardInterrupt:
        return EXIT_OK


def _fail(session: Session, message: str, code: int) -> int:
    """One line on stderr; with --json also {"error", "exit_code"} on stdout."""
    session.err.write(f"{message}\n")
    if getattr(session.args, "json", False):
        session.write(json.dumps({"error": message, "exit_code": code}))
    return code


def _remote(name: str, command: Remote, session: Session) -> int:
    """One request to the daemon; its result as JSON or as the command renders it."""
    args = session.args
    wire_args = command.request(args)  # a bad value fails here, before any connect
    result = session.control().request(name, **wire_args)
    if command.second_reading(result):
        time.sleep(SECOND_READING_S)
        result = session.control().request(name, **wire_args)
    result = command.select(args, result)
    session.write(json.dumps(result, indent=2, default=str) if args.json
                  else command.render(args, result))
    return command.exit_code(result)


if __name__ == "__main__":
    sys.exit(main())
