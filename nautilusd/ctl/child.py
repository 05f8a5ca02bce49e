"""A command run as a child process: its output streamed to ours, its exit code passed on.

nautilusctl runs the benchmark suites, chaos and the config check this way, so their code
(engines, rings) never loads into the client; and journalctl or tail for `logs`.
"""

from __future__ import annotations

import subprocess
import sys
from typing import TextIO

INTERRUPTED = 130  # the shell's code for a run ended by Ctrl-C


def python_main(module: str, argv: list[str]) -> list[str]:
    """The argv of a fresh interpreter running `module` as a script (`python -m`): each
    suite, chaos and nautilusd end with `sys.exit(main())`."""
    return [sys.executable, "-m", module, *argv]


def run(argv: list[str], out: TextIO, err: TextIO, *, interrupted: int = INTERRUPTED) -> int:
    """Run `argv` writing to `out` and `err`: straight to their file descriptors when they
    have them (a terminal, a pipe: output streams as it comes), else copied when it ends.

    A Ctrl-C reaches the child too (same process group): we wait for it to finish and
    return `interrupted`.
    """
    out_fd, err_fd = _fd(out), _fd(err)
    if out_fd is not None and err_fd is not None:
        out.flush()
        err.flush()
        child = subprocess.Popen(argv, stdout=out_fd, stderr=err_fd)
        try:
            return _exit_code(child.wait())
        except KeyboardInterrupt:
            child.wait()
            return interrupted
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
    except KeyboardInterrupt:
        return interrupted
    out.write(result.stdout)
    err.write(result.stderr)
    return _exit_code(result.returncode)


def _fd(stream: TextIO) -> int | None:
    """The stream's file descriptor; None for an in-memory one (StringIO, pytest's capsys)."""
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return None


def _exit_code(returncode: int) -> int:
    """A child killed by signal N exits 128 + N, as a shell reports it."""
    return returncode if returncode >= 0 else 128 - returncode
