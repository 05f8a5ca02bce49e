"""`nautilusctl`: drive a running nautilusd over its control socket, read its logs and bus.

Client side only: it imports no engine and no ring code (bench suites load lazily).
Exit codes: 0 ok, 1 command failed, 2 usage (health: down), 3 no daemon, 4 permission denied.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from nautilusd import paths
from nautilusd.ctl import render
from nautilusd.ctl.client import (
    ControlClient,
    DaemonNotRunning,
    PermissionDenied,
    RemoteError,
    RequestTimeout,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_RUNNING, EXIT_DENIED = 0, 1, 2, 3, 4
HEALTH_DOWN = 2
LOG_LINES = 200


_COMMON_DEFAULTS = {"json": False, "runtime_dir": None, "instance": "default", "timeout_ms": 10_000}


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: an option given before the subcommand is not reset by the subparser.
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print JSON instead of tables")
    common.add_argument("--runtime-dir", default=argparse.SUPPRESS,
                        help="runtime directory of the daemon")
    common.add_argument("--instance", default=argparse.SUPPRESS, help="instance name")
    common.add_argument("--timeout-ms", type=int, default=argparse.SUPPRESS,
                        help="control request time-out")
    parser = argparse.ArgumentParser(prog="nautilusctl", parents=[common],
                                     description="Drive a running nautilusd.")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=help_text)

    add("status", "engines, states, pids, cores, uptime, restarts, heartbeats")
    for verb in ("start", "stop", "restart"):
        add(verb, f"{verb} an engine, a group or all").add_argument("target")
    add("reload", "re-read the config, apply the diff").add_argument("config", nargs="?")
    scale = add("scale", "run N replicas of an engine")
    scale.add_argument("engine")
    scale.add_argument("n", type=int)
    pin = add("pin", "move an engine to other cores, live")
    pin.add_argument("engine")
    pin.add_argument("cpus", help='"1", "0,2" or "0-3"')
    add("rings", "ring cursors, lag, fill, overruns, rates")
    add("health", "exit 0 healthy, 1 degraded, 2 down")
    logs = add("logs", "an engine's log records")
    logs.add_argument("engine")
    logs.add_argument("-f", "--follow", action="store_true")
    top = add("top", "live view of engines and rings")
    top.add_argument("--interval", type=float, default=1.0)
    top.add_argument("--once", action="store_true", help="print one frame and exit")
    events = add("events", "tail the event bus")
    events.add_argument("topic", nargs="?", default="")
    events.add_argument("--count", type=int, default=0, help="exit after this many")
    events.add_argument("--timeout-s", type=float, default=0.0, help="exit after this long")
    add("shutdown", "stop every engine and exit nautilusd")
    add("check", "validate a config file").add_argument("config")
    call = add("call", "call an engine's service method, e.g. risk risk.kill_switch engage=true")
    call.add_argument("engine")
    call.add_argument("method")
    call.add_argument("pairs", nargs="*", metavar="KEY=VALUE")
    bench = add("bench", "run a benchmark suite")
    bench.add_argument("suite")
    bench.add_argument("--quick", action="store_true")
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    chaos = add("chaos", "run the default pipeline under injected faults, then reconcile")
    chaos.add_argument("--duration", type=float, default=60.0, help="seconds of faults")
    chaos.add_argument("--kills", type=int, default=20, help="processes to kill in all")
    chaos.add_argument("--seed", type=int, default=1)
    chaos.add_argument("--faults", default=None, help="special faults to include (a,b,...)")
    return parser


def main(argv: list[str] | None = None, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    args = _parser().parse_args(argv)
    # Defaults are filled here, not with set_defaults: that would rewrite the shared option
    # objects' SUPPRESS default, and a subparser would then reset options given before it.
    for key, value in _COMMON_DEFAULTS.items():
        if not hasattr(args, key):
            setattr(args, key, value)
    out, err = out or sys.stdout, err or sys.stderr
    if args.command == "check":
        from nautilusd.config.check import main as check_main

        return int(check_main(args, out=out, err=err))
    if args.command == "bench":
        return _bench(args)
    if args.command == "chaos":
        return _chaos(args)
    if args.command == "logs":
        return _logs(args, _runtime_dir(args), out, err)
    if args.command == "call":
        from nautilusd.ctl import call as callcmd

        return callcmd.run(args, _runtime_dir(args), out, err)
    endpoint = paths.control_endpoint(_runtime_dir(args))
    try:
        with ControlClient(endpoint, timeout_ms=args.timeout_ms) as client:
            return int(_COMMANDS[args.command](args, client, out))
    except DaemonNotRunning as exc:
        err.write(f"{exc}\n")
        return HEALTH_DOWN if args.command == "health" else EXIT_NOT_RUNNING
    except PermissionDenied as exc:
        err.write(f"{exc}\n")
        return HEALTH_DOWN if args.command == "health" else EXIT_DENIED
    except RequestTimeout as exc:
        err.write(f"{exc}\n")
        return HEALTH_DOWN if args.command == "health" else EXIT_FAILED
    except RemoteError as exc:
        err.write(f"error: {exc.code}: {exc.message}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_OK


def _runtime_dir(args: argparse.Namespace) -> Path:
    return Path(args.runtime_dir) if args.runtime_dir else paths.default_runtime_dir(args.instance)


def _emit(out: TextIO, args: argparse.Namespace, result: Any, text: str) -> int:
    out.write((json.dumps(result, indent=2, default=str) if args.json else text) + "\n")
    return EXIT_OK


def _status(args: argparse.Namespace, client: ControlClient, out: TextIO) -> int:
    doc = client.request("status")
    return _emit(out, args, doc, render.status_text(doc))


def _lifecycle(args: argparse.Namespace, client: ControlClient, out: TextIO) -> int:
    result = client.request(args.command, target=args.target)
    past = {"start": "started", "stop": "stopped", "restart": "restarted"}[args.command]
    return _emit(out, args, result, f"{past}: {', '.join(result['affected']) or 'nothing'}")


def _reload(args: argparse.Namespace, client: ControlClient, out: TextIO) -> int:
    config = str(Path(args.config).resolve()) if args.config else None
    result = client.request("reload", config=config)
    rows = [[key, ", ".join(result[key]) or "-"] for key in ("added", "changed", "removed")]
    return _emit(out, args, result, render.table(("DIFF", "ENGINES"), rows))


def _scale(args: argparse.Namespace, client: ControlClient, out: TextIO) -> int:
    result = client.request("scale", engine=args.engine, n=args.n)
    return _emit(out, args, result, f"{args.engine}: {', '.join(result['instances']) or '-'}")


def parse_cpus(text: str) -> list[int]:
    """"0-2,5" -> [0, 1, 2, 5]; raises ValueError naming the bad part."""
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise ValueError(f"bad core list {text!r}: {part!r} is not N or N-M")
        cpus.update(range(int(low), int(high or low) + 1))
    return sorted(cpus)


def _pin(args: argparse.Namespace, client: ControlClient, out: TextIO) -> int:
    try:
        cpus = parse_cpus(args.cpus)
    except ValueError as exc:
        sys.stderr.write(f"{exc}\n")
        return EXIT_USAGE
    result = client.request("pin", engine=args.engine, cpus=cpus)
    return _emit(out, args, result,
                 f"{result['engine']} pinned to cpus {render.cpus_text(result['cpus'])}")


def _rings(args: argparse.Namespace, client: ControlClient, out: TextIO) -> int:
    result = client.request("rings")
    return _emit(out, args, result, render.rings_text(result["rings"]))


def _health(args: argparse.Namespace, client: ControlClient, out: TextIO) -> int:
    result = client.request("health")
    detail = result.get("detail") or {}
    problems = [f"{k}: {', '.join(map(str, v))}" for k, v in detail.items()
                if isinstance(v, list) and v]
    _emit(out, args, result, "; ".join([result["status"], *problems]))
    return int(result["code"])


def _shutdown(args: argparse.Namespace, client: ControlClient, out: TextIO) -> int:
    return _emit(out, args, client.request("shutdown"), "nautilusd is shutting down")


def _top(args: argparse.Namespace, client: ControlClient, out: TextIO) -> int:
    def frame() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return client.request("status"), client.request("rings")["rings"]

    if args.json or args.once:
        while True:
            doc, rings = frame()
            if args.json:
                out.write(json.dumps({"status": doc, "rings": rings}, default=str) + "\n")
            else:
                out.write(render.status_text(doc) + "\n\n" + render.rings_text(rings) + "\n")
            out.flush()
            if args.once:
                return EXIT_OK
            time.sleep(args.interval)  # the refresh period of the view, not a wait
    from rich.live import Live

    with Live(render.top_view(*frame()), refresh_per_second=4, screen=False) as live:
        while True:
            time.sleep(args.interval)  # the refresh period of the view, not a wait
            live.update(render.top_view(*frame()))


def _events(args: argparse.Namespace, client: ControlClient, out: TextIO) -> int:
    from engines.bus import Subscriber  # the SDK's bus helper; no engine or ring code

    info = client.request("info")
    endpoint = info.get("bus_sub") or paths.bus_sub_endpoint(_runtime_dir(args))
    sub = Subscriber(endpoint, (args.topic,))
    seen, deadline = 0, time.monotonic() + args.timeout_s if args.timeout_s else None
    try:
        while not args.count or seen < args.count:
            left_ms = 500 if deadline is None else int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                break
            message = sub.recv(min(left_ms, 500))
            if message is None:
                continue
            seen += 1
            topic, payload = message
            out.write((json.dumps({"topic": topic, "payload": payload}, default=str)
                       if args.json else render.event_line(topic, payload)) + "\n")
            out.flush()
    finally:
        sub.close()
    return EXIT_OK


def _logs(args: argparse.Namespace, runtime_dir: Path, out: TextIO, err: TextIO) -> int:
    """journald records with ENGINE=<name>, else <runtime_dir>/logs/<engine>.log."""
    match = f"ENGINE={args.engine}"
    journalctl = shutil.which("journalctl")
    if journalctl:
        probe = subprocess.run([journalctl, "-q", "-o", "cat", "-n", "1", match],
                               capture_output=True, text=True, check=False)
        if probe.returncode == 0 and probe.stdout.strip():
            argv = [journalctl, "-q", "-o", "json" if args.json else "cat", "-n", str(LOG_LINES),
                    *(["-f"] if args.follow else []), match]
            return _pass_through(argv, out)
    log_file = runtime_dir / "logs" / f"{args.engine}.log"
    if log_file.is_file():
        return _pass_through(["tail", "-n", str(LOG_LINES), *(["-F"] if args.follow else []),
                              str(log_file)], out)
    err.write(f"no logs for engine {args.engine!r}: no journal records with {match} "
              f"and no {log_file}\n")
    return EXIT_FAILED


def _pass_through(argv: list[str], out: TextIO) -> int:
    if out is sys.stdout:  # stream straight to the terminal, -f included
        try:
            return subprocess.run(argv, check=False).returncode
        except KeyboardInterrupt:
            return EXIT_OK
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    out.write(result.stdout)
    return result.returncode


def _bench(args: argparse.Namespace) -> int:
    import importlib

    try:
        suite = importlib.import_module(f"nautilusd.bench.{args.suite}")
    except ModuleNotFoundError:
        sys.stderr.write(f"no bench suite {args.suite!r} (nautilusd/bench/{args.suite}.py)\n")
        return EXIT_USAGE
    argv = [*(["--quick"] if args.quick else []), *(["--json"] if args.json else []),
            *args.rest]
    return int(suite.main(argv) or 0)


def _chaos(args: argparse.Namespace) -> int:
    from nautilusd.chaos import run as chaos  # lazily: it starts a daemon and reads rings

    argv = ["--duration", str(args.duration), "--kills", str(args.kills), "--seed",
            str(args.seed), *(["--faults", args.faults] if args.faults is not None else []),
            *(["--json"] if args.json else [])]
    return int(chaos.main(argv))


_COMMANDS = {"status": _status, "start": _lifecycle, "stop": _lifecycle,
             "restart": _lifecycle, "reload": _reload, "scale": _scale, "pin": _pin,
             "rings": _rings, "health": _health, "shutdown": _shutdown, "top": _top,
             "events": _events}


if __name__ == "__main__":
    sys.exit(main())
