"""The control wire format: msgpack requests and replies between nautilusctl and nautilusd.

Request `{"cmd": str, "args": map, "id": int|str}`; reply `{"ok": true, "result": ..., "id"}`
or `{"ok": false, "error": {"code": str, "message": str}, "id"}`. Nothing here touches a socket.
"""

from __future__ import annotations

import enum
from pathlib import PurePath
from typing import Any, Final, NamedTuple

import msgpack

from nautilusd.errors import ControlError

# A request is a command name and a few arguments (a config path at most): 64 KiB is generous,
# and libzmq drops a peer that sends more (ZMQ_MAXMSGSIZE) before a byte of it is decoded.
MAX_REQUEST_BYTES: Final = 64 * 1024
MAX_CMD_CHARS: Final = 64


class ErrorCode(enum.Enum):
    """Typed failure classes of a control request; the value travels on the wire."""

    BAD_REQUEST = "BAD_REQUEST"  # not msgpack, not a map, or missing/ill-typed cmd/args/id
    UNKNOWN_COMMAND = "UNKNOWN_COMMAND"
    BAD_ARGS = "BAD_ARGS"  # an argument is missing, of the wrong type or out of range
    UNKNOWN_TARGET = "UNKNOWN_TARGET"  # no such engine, instance or group
    CONFIG_INVALID = "CONFIG_INVALID"  # reload/check: the new config was rejected
    FAILED = "FAILED"  # the supervisor refused or could not carry out the command
    TOO_LARGE = "TOO_LARGE"
    FORBIDDEN = "FORBIDDEN"  # the peer runs as a user the daemon does not serve
    INTERNAL = "INTERNAL"  # a bug in nautilusd: logged with its traceback
    UNAVAILABLE = "UNAVAILABLE"  # the daemon is shutting down


def command_error(code: ErrorCode, message: str) -> ControlError:
    """A ControlError carrying a wire code, raised by commands and caught at the dispatch edge."""
    return ControlError(code.value, message)


class Request(NamedTuple):  # not a dataclass: a re-executed image decodes requests before
    cmd: str  # dataclasses (and inspect) are imported (nautilusd.control.early)
    args: dict[str, Any]
    id: int | str | None = None


def _to_wire(value: Any) -> Any:
    """msgpack `default` hook: the few non-native types a status document may hold."""
    if isinstance(value, enum.Enum):
        return value.name if not isinstance(value.value, str | int) else value.value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "items"):  # MappingProxyType and friends
        return dict(value.items())
    raise TypeError(f"cannot encode {type(value).__name__} on the control socket: {value!r}")


def pack(obj: Any) -> bytes:
    packed: bytes = msgpack.packb(obj, use_bin_type=True, default=_to_wire)
    return packed


def plain(obj: Any) -> Any:
    """`obj` as a client decodes it off the wire: maps, lists, strings and numbers only."""
    return msgpack.unpackb(pack(obj), raw=False, strict_map_key=False)


def encode_request(cmd: str, args: dict[str, Any] | None = None,
                   request_id: int | str | None = None) -> bytes:
    return pack({"cmd": cmd, "args": args or {}, "id": request_id})


def encode_ok(request_id: Any, result: Any) -> bytes:
    return pack({"ok": True, "result": result, "id": request_id})


def encode_error(request_id: Any, code: ErrorCode | str, message: str) -> bytes:
    wire_code = code.value if isinstance(code, ErrorCode) else code
    return pack({"ok": False, "error": {"code": wire_code, "message": message},
                 "id": request_id})


def _unpack(raw: bytes, what: str) -> Any:
    if len(raw) > MAX_REQUEST_BYTES and what == "request":
        raise command_error(ErrorCode.TOO_LARGE,
                            f"request of {len(raw)} bytes exceeds {MAX_REQUEST_BYTES}")
    try:
        # unpackb bounds every string/array/map by len(raw): no allocation bombs.
        return msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except (ValueError, msgpack.UnpackException) as exc:
        raise command_error(ErrorCode.BAD_REQUEST,
                            f"{what} of {len(raw)} bytes is not valid msgpack: {exc}") from exc


def decode_request(raw: bytes) -> Request:
    """Parse and shape-check one request; raises ControlError(BAD_REQUEST | TOO_LARGE)."""
    doc = _unpack(raw, "request")
    if not isinstance(doc, dict):
        raise command_error(ErrorCode.BAD_REQUEST,
                            f"request must be a map, got {type(doc).__name__}")
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, int | str):
        raise command_error(ErrorCode.BAD_REQUEST,
                            f"request id must be int or str, got {type(request_id).__name__}")
    cmd = doc.get("cmd")
    if not isinstance(cmd, str) or not cmd or len(cmd) > MAX_CMD_CHARS:
        raise command_error(ErrorCode.BAD_REQUEST, f"request cmd must be a short string, "
                            f"got {_short(cmd)}")
    args = doc.get("args", {})
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise command_error(ErrorCode.BAD_REQUEST,
                            f"request args must be a map, got {type(args).__name__}")
    return Request(cmd=cmd, args=args, id=request_id)


def request_id_of(raw: bytes) -> Any:
    """Best effort: the id of a request that failed validation, so the reply can carry it."""
    try:
        doc = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except (ValueError, msgpack.UnpackException):
        return None
    request_id = doc.get("id") if isinstance(doc, dict) else None
    return request_id if isinstance(request_id, int | str) else None


def decode_reply(raw: bytes) -> dict[str, Any]:
    """Parse a reply and check its shape; raises ControlError(BAD_REQUEST) if malformed."""
    doc = _unpack(raw, "reply")
    if not isinstance(doc, dict) or not isinstance(doc.get("ok"), bool):
        raise command_error(ErrorCode.BAD_REQUEST, f"malformed reply: {_short(doc)}")
    if not doc["ok"]:
        error = doc.get("error")
        if not isinstance(error, dict) or not isinstance(error.get("code"), str):
            raise command_error(ErrorCode.BAD_REQUEST, f"malformed error reply: {_short(doc)}")
    return doc


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
