"""engines.log: JSON lines, the journald native protocol over a real datagram socket, fallbacks."""

from __future__ import annotations

import fcntl
import io
import json
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from engines import log as englog
from engines._journal import encode_field, field_name
from engines.log import LogConfigError, configure_logging, get_logger, log_stats, resolve_format

pytestmark = pytest.mark.timeout(20)


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    if englog.STATE.sink is not None:
        englog.STATE.sink.close()
    englog.STATE.sink = None
    englog.STATE.fallbacks = 0
    structlog.reset_defaults()


@pytest.fixture
def journal_socket(dgram_socket: tuple[socket.socket, str]) -> tuple[socket.socket, str]:
    """A datagram socket standing in for journald's."""
    return dgram_socket


def parse_entry(data: bytes) -> dict[str, bytes]:
    """Decode one native-protocol entry (both the `K=v` and the length-prefixed form)."""
    fields: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        newline = data.index(b"\n", pos)
        line = data[pos:newline]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            fields[key.decode()] = value
            pos = newline + 1
        else:
            (size,) = struct.unpack_from("<Q", data, newline + 1)
            start = newline + 9
            fields[line.decode()] = data[start : start + size]
            assert data[start + size : start + size + 1] == b"\n"
            pos = start + size + 1
    return fields


def receive_entry(sock: socket.socket) -> tuple[dict[str, bytes], bool]:
    """One entry from the socket; True when it came as a sealed memfd."""
    data, ancdata, _flags, _addr = sock.recvmsg(1 << 20, socket.CMSG_SPACE(4))
    if not ancdata:
        return parse_entry(data), False
    level, kind, raw = ancdata[0]
    assert (level, kind) == (socket.SOL_SOCKET, socket.SCM_RIGHTS)
    fd = struct.unpack("i", raw[:4])[0]
    try:
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
        assert seals & fcntl.F_SEAL_WRITE and seals & fcntl.F_SEAL_SEAL
        size = os.fstat(fd).st_size
        return parse_entry(os.pread(fd, size, 0)), True
    finally:
        os.close(fd)


def test_json_when_default_format_writes_one_object_per_line() -> None:
    """The json format writes each record as one JSON object on its own line with fixed keys."""
    out = io.StringIO()
    configure_logging("json", instance="blue", engine="risk", stream=out)
    get_logger(order_id=7).info("order.accepted", qty=100)
    get_logger().debug("not shown")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["event"] == "order.accepted" and record["level"] == "info"
    assert (record["instance"], record["engine"], record["pid"]) == ("blue", "risk", os.getpid())
    assert (record["order_id"], record["qty"]) == (7, 100) and "timestamp" in record


def test_get_logger_when_bound_records_carry_bound_keys() -> None:
    """get_logger(**bind) binds its keys to every record it emits."""
    configure_logging("json", stream=io.StringIO())
    with capture_logs() as records:
        get_logger(component="control").warning("slow.request", ms=12)
    assert records == [{"component": "control", "ms": 12, "event": "slow.request",
                        "log_level": "warning"}]


def test_configure_when_level_unknown_raises_naming_it() -> None:
    """An unknown level or format is refused with the bad value in the message."""
    with pytest.raises(LogConfigError, match="'loud'"):
        configure_logging("json", "loud")
    with pytest.raises(LogConfigError, match="'xml'"):
        configure_logging("xml")


def test_resolve_format_when_journal_stream_set_picks_journald(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """auto means journald under systemd (JOURNAL_STREAM) or with a configured socket, else json."""
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    monkeypatch.delenv("NAUTILUSD_JOURNAL_SOCKET", raising=False)
    assert resolve_format("auto") == "json"
    assert resolve_format("auto", "/run/x.sock") == "journald"
    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
    assert resolve_format("auto") == "journald"
    assert resolve_format("console") == "console"


def test_field_name_when_key_invalid_is_sanitised() -> None:
    """Record keys become upper-case journald names: A-Z 0-9 _, no leading _ or digit, <= 64."""
    assert field_name("order-id") == "ORDER_ID"
    assert field_name("_private") == "PRIVATE"
    assert field_name("2fa") == "F_2FA"
    assert field_name("été") == "T_"
    assert len(field_name("k" * 100)) == 64


def test_encode_field_when_value_multiline_uses_length_prefix() -> None:
    """A value with a newline is sent as NAME, newline, 64-bit LE length, bytes, newline."""
    assert encode_field("A", "x") == b"A=x\n"
    assert encode_field("B", "x\ny") == b"B\n" + struct.pack("<Q", 3) + b"x\ny\n"


def test_journald_when_socket_present_sends_fields(
    journal_socket: tuple[socket.socket, str],
) -> None:
    """Each record is one datagram with MESSAGE, PRIORITY, identifiers and upper-cased keys."""
    sock, path = journal_socket
    configure_logging("journald", "debug", instance="blue", engine="risk",
                      journal_socket=path)
    get_logger().warning("limit.breached", symbol="AAPL", pid=4242,
                         **{"order-id": 42, "message": "m"})
    fields, via_memfd = receive_entry(sock)
    assert not via_memfd
    assert fields["MESSAGE"].startswith(b"limit.breached symbol=AAPL")
    assert fields["PRIORITY"] == b"4"
    assert fields["SYSLOG_IDENTIFIER"] == b"nautilusd"
    assert (fields["ENGINE"], fields["INSTANCE"]) == (b"risk", b"blue")
    assert fields["ENGINE_PID"] == str(os.getpid()).encode()  # who logged
    assert fields["PID"] == b"4242"  # what the record is about (a daemon record names a child)
    assert fields["EVENT"] == b"limit.breached"
    assert (fields["SYMBOL"], fields["ORDER_ID"]) == (b"AAPL", b"42")
    assert fields["KEY_MESSAGE"] == b"m"
    assert log_stats()["sent"] == 1


def test_journald_when_exception_logged_sends_multiline_fields(
    journal_socket: tuple[socket.socket, str],
) -> None:
    """A traceback travels as a length-prefixed EXCEPTION field with error priority."""
    sock, path = journal_socket
    configure_logging("journald", journal_socket=path)
    try:
        raise KeyError("missing")
    except KeyError:
        get_logger().exception("handler.failed")
    fields, _ = receive_entry(sock)
    assert fields["PRIORITY"] == b"3"
    assert b"KeyError: 'missing'" in fields["EXCEPTION"]
    assert fields["ENGINE"] == b"nautilusd"


def test_journald_when_entry_too_large_sends_sealed_memfd(
    journal_socket: tuple[socket.socket, str],
) -> None:
    """An entry bigger than a datagram is passed as a sealed memfd with SCM_RIGHTS."""
    sock, path = journal_socket
    configure_logging("journald", journal_socket=path)
    blob = "x" * (4 << 20)
    get_logger().info("big.snapshot", blob=blob)
    fields, via_memfd = receive_entry(sock)
    assert via_memfd
    assert fields["BLOB"] == blob.encode() and fields["EVENT"] == b"big.snapshot"
    assert log_stats()["sent_memfd"] == 1


def test_journald_when_socket_gone_falls_back_to_stdout_and_counts(tmp_path: Path) -> None:
    """With no journal listening, records go to stdout as JSON, counted, and nothing raises."""
    out = io.StringIO()
    configure_logging("journald", journal_socket=str(tmp_path / "gone.sock"), stream=out)
    get_logger().error("venue.down", venue="sim")
    get_logger().info("venue.retry")
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["event"] for r in records] == ["venue.down", "venue.retry"]
    assert records[0]["venue"] == "sim" and "timestamp" in records[0]
    stats = log_stats()
    assert (stats["fallbacks"], stats["failed"], stats["sent"]) == (2, 2, 0)
