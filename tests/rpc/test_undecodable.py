"""Request bytes that do not parse answer INVALID_ARGUMENT (UNDECODABLE_REQUEST), never
UNKNOWN with a Python class in the message, and the log gets one line per method per
10 s, without a traceback, however many arrive."""

from __future__ import annotations

import logging
from typing import Any

import grpc
import pytest

from gateway.rpc import _handlers

from ..support import auth, create_request, error_info, violated_fields

SERVICE = "revox.campaigns.v1.CampaignService"
CORRUPT = b"\x0a\xff\xff\xff\xff\x0f"  # field 1, length-delimited, with a length past the end


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _deep_struct(levels: int) -> bytes:
    """A google.protobuf.Struct ``{"a": {"a": ...}}`` ``levels`` deep, encoded by hand
    (the Python runtime would refuse to build one this deep)."""
    struct = b""
    for _ in range(levels):
        value = _field(5, struct)  # Value.struct_value
        entry = _field(1, b"a") + _field(2, value)  # map entry: key, value
        struct = _field(1, entry)  # Struct.fields
    return struct


def _deep_create(levels: int) -> bytes:
    """A valid CreateCampaignRequest whose extra_fields (100) nest ``levels`` deep."""
    return create_request(1).SerializeToString() + _field(100, _deep_struct(levels))


def _unary(channel: grpc.aio.Channel, method: str) -> Any:
    return channel.unary_unary(f"/{SERVICE}/{method}", request_serializer=None, response_deserializer=None)


def _refused(error: grpc.aio.AioRpcError, message_type: str) -> None:
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(error).reason == "UNDECODABLE_REQUEST"
    assert violated_fields(error) == ["request"]
    details = error.details() or ""
    assert f"not a valid revox.campaigns.v1.{message_type}" in details
    for leak in ("Error", "Exception", "Traceback", "google.protobuf", "_pb2"):
        assert leak not in details


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The decode-failure log's clock, moved by the test instead of slept through."""
    now = [1000.0]
    monkeypatch.setattr(_handlers, "_monotonic", lambda: now[0])
    return now


def _decode_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "gateway.rpc" and "was refused" in r.getMessage()]


@pytest.mark.parametrize(
    ("method", "message_type", "payload"),
    [
        ("CreateCampaign", "CreateCampaignRequest", CORRUPT),
        ("CreateCampaign", "CreateCampaignRequest", _deep_create(200)),
        ("GetCampaign", "GetCampaignRequest", b"\xff"),
    ],
    ids=["corrupt", "struct-200-deep", "get-corrupt"],
)
async def test_undecodable_unary_requests_are_invalid_argument(
    channel, stub, caplog: pytest.LogCaptureFixture, clock: list[float], method: str, message_type: str,
    payload: bytes,
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _unary(channel, method)(payload, metadata=auth(), timeout=10)
    _refused(info.value, message_type)
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    [line] = _decode_lines(caplog)
    assert line.levelno == logging.WARNING and method in line.getMessage()
    # The server is fine afterwards, and a request nested within the parser's limit passes.
    assert (await stub.CreateCampaign(create_request(1), metadata=auth())).id


async def test_a_stream_rpc_refuses_undecodable_bytes(channel) -> None:
    call = channel.unary_stream(f"/{SERVICE}/WatchCampaignRows", request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in call(CORRUPT, metadata=auth(), timeout=10):
            pass
    _refused(info.value, "WatchCampaignRowsRequest")


async def test_the_log_says_it_once_per_method_per_10_seconds(
    channel, caplog: pytest.LogCaptureFixture, clock: list[float]
) -> None:
    caplog.set_level(logging.DEBUG)
    create, get = _unary(channel, "CreateCampaign"), _unary(channel, "GetCampaign")

    async def send(call: Any) -> None:
        with pytest.raises(grpc.aio.AioRpcError):
            await call(CORRUPT, metadata=auth(), timeout=10)

    for _ in range(5):
        await send(create)
    await send(get)  # another method: its own line
    assert [r.getMessage().split(":")[0] for r in _decode_lines(caplog)] == ["CreateCampaign", "GetCampaign"]
    clock[0] += 9.9
    await send(create)
    assert len(_decode_lines(caplog)) == 2
    clock[0] += 0.1  # 10 s after the first line
    await send(create)
    lines = _decode_lines(caplog)
    assert len(lines) == 3
    assert "5 more since the last report" in lines[2].getMessage()  # 4 of the first 5, and 1
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_struct_within_the_parsers_limit_is_read_and_checked(channel) -> None:
    """30 Structs deep parses (90 messages) and reaches validation, which bounds it at 16."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _unary(channel, "CreateCampaign")(_deep_create(30), metadata=auth(), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(info.value).reason == "INVALID_ARGUMENT"
    [field] = violated_fields(info.value)
    assert field.startswith("extra_fields.a.a")

