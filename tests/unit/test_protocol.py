"""Tests of the control wire format: encoding, shape checks and typed error codes."""

from __future__ import annotations

import msgpack
import pytest

from nautilusd.control.protocol import (
    MAX_REQUEST_BYTES,
    ErrorCode,
    decode_reply,
    decode_request,
    encode_error,
    encode_ok,
    encode_request,
    request_id_of,
)
from nautilusd.errors import ControlError


def test_decode_request_when_well_formed_returns_fields() -> None:
    """A request built by encode_request decodes to the same cmd, args and id."""
    req = decode_request(encode_request("pin", {"engine": "risk", "cpus": [1]}, 7))
    assert (req.cmd, req.args, req.id) == ("pin", {"engine": "risk", "cpus": [1]}, 7)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"\xc1", "not valid msgpack"),
        (msgpack.packb([1, 2]), "must be a map"),
        (msgpack.packb({"args": {}}), "cmd must be"),
        (msgpack.packb({"cmd": "x" * 100}), "cmd must be"),
        (msgpack.packb({"cmd": "status", "args": [1]}), "args must be a map"),
        (msgpack.packb({"cmd": "status", "id": 1.5}), "id must be"),
        (msgpack.packb({1: 2}), "not valid msgpack"),
        (msgpack.packb({"cmd": "status"}) + b"\x00", "not valid msgpack"),
        (b"", "not valid msgpack"),
    ],
)
def test_decode_request_when_malformed_raises_bad_request(raw: bytes, fragment: str) -> None:
    """Every malformed request raises ControlError(BAD_REQUEST) naming what is wrong."""
    with pytest.raises(ControlError) as info:
        decode_request(raw)
    assert info.value.code == ErrorCode.BAD_REQUEST.value
    assert fragment in info.value.message


def test_decode_request_when_oversize_raises_too_large() -> None:
    """A request above MAX_REQUEST_BYTES is refused with TOO_LARGE and its size."""
    raw = encode_request("status", {"pad": "x" * MAX_REQUEST_BYTES})
    with pytest.raises(ControlError) as info:
        decode_request(raw)
    assert info.value.code == ErrorCode.TOO_LARGE.value
    assert str(len(raw)) in info.value.message


def test_decode_reply_when_ok_and_error_returns_documents() -> None:
    """Both reply forms round-trip with their id, result and error code."""
    assert decode_reply(encode_ok(3, {"a": 1})) == {"ok": True, "result": {"a": 1}, "id": 3}
    doc = decode_reply(encode_error(4, ErrorCode.UNKNOWN_TARGET, "unknown target: 'x'"))
    assert doc["error"] == {"code": "UNKNOWN_TARGET", "message": "unknown target: 'x'"}


def test_decode_reply_when_error_lacks_code_raises() -> None:
    """An error reply without a code is a malformed reply, not a silent success."""
    with pytest.raises(ControlError):
        decode_reply(msgpack.packb({"ok": False, "error": "boom"}))


def test_encode_ok_when_result_has_paths_and_enums_encodes_them() -> None:
    """Status documents may hold Path, Enum and sets: they travel as plain values."""
    from pathlib import Path

    doc = decode_reply(encode_ok(1, {"p": Path("/x"), "c": ErrorCode.FAILED, "s": {2, 1}}))
    assert doc["result"] == {"p": "/x", "c": "FAILED", "s": [1, 2]}


def test_request_id_of_when_args_invalid_still_finds_id() -> None:
    """The id of a request that failed validation is echoed back when it can be read."""
    assert request_id_of(msgpack.packb({"cmd": 5, "id": "abc"})) == "abc"
    assert request_id_of(b"\xc1") is None
