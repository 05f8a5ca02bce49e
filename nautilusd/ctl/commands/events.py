"""events: tail the event bus, optionally from one topic prefix.

Wire: an `info` request for the bus's subscriber endpoint, then a SUB socket on it; a bus
message is two frames, [topic, msgpack map] (what engines.bus.Publisher sends).
CLI:  nautilusctl events [TOPIC] [--count N] [--timeout-s S] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import msgpack
import zmq

from nautilusd import paths
from nautilusd.control.commands import text
from nautilusd.control.commands.spec import EXIT_OK
from nautilusd.ctl.local import Local
from nautilusd.ctl.session import Session

NAME = "events"
POLL_MS = 500


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topic", nargs="?", default="")
    parser.add_argument("--count", type=int, default=0, help="exit after this many")
    parser.add_argument("--timeout-s", type=float, default=0.0, help="exit after this long")


def main(args: argparse.Namespace, session: Session) -> int:
    info = session.control().request("info")
    endpoint = info.get("bus_sub") or paths.bus_sub_endpoint(session.runtime_dir)
    sub: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    # `system.engine.*` and `system.engine.` mean the same prefix, as for engines
    sub.setsockopt(zmq.SUBSCRIBE, args.topic.removesuffix("*").encode())
    seen, deadline = 0, time.monotonic() + args.timeout_s if args.timeout_s else None
    try:
        sub.connect(endpoint)
        while not args.count or seen < args.count:
            left_ms = POLL_MS if deadline is None else int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                break
            if not sub.poll(min(left_ms, POLL_MS)):
                continue
            message = _decode(sub.recv_multipart())
            if message is None:
                continue  # not a bus message: skipped, as engines' subscribers do
            seen += 1
            topic, payload = message
            session.write(json.dumps({"topic": topic, "payload": payload}, default=str)
                          if args.json else event_line(topic, payload))
    finally:
        sub.close(linger=0)
    return EXIT_OK


def _decode(frames: list[bytes]) -> tuple[str, Any] | None:
    if len(frames) != 2:
        return None
    try:
        return frames[0].decode(), msgpack.unpackb(frames[1], raw=False, strict_map_key=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        return None


def event_line(topic: str, payload: Any) -> str:
    """`topic  key=value ...`; a one-item list (how a record's field is published) is shown
    as its item: `order_id=1099511631459`, not `order_id=[1099511631459]`. --json keeps the
    payload as sent."""
    if isinstance(payload, dict):
        fields = " ".join(f"{k}={text.cell(_scalar(v))}" for k, v in payload.items())
        return f"{topic}  {fields}"
    return f"{topic}  {payload!r}"


def _scalar(value: Any) -> Any:
    return value[0] if isinstance(value, list | tuple) and len(value) == 1 else value


COMMAND = Local(name=NAME, help="tail the event bus", arguments=arguments, main=main)
