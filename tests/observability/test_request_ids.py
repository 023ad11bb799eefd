"""Request ids and the one log line per rpc, over real ports: the caller's ``x-request-id``
comes back in the response's initial metadata, reaches the upstream as a header of the
calls made for that rpc, and is in that rpc's JSON log line; one that is not well formed
is replaced; the line names the tenant by its hash, never by the key."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest

from gateway.observability import JsonFormatter
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ..support import ALICE, auth
from ..upstream._fakes import FakeRevox, reply, serving

CAMPAIGN = {"campaign": {"id": "cmp_1", "name": "Spring", "status": "running",
                         "created_at": "2026-01-01T00:00:00Z"}}
HEX32 = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
async def fake() -> AsyncIterator[FakeRevox]:
    async with serving() as fake:
        yield fake


@pytest.fixture
def access_log() -> Iterator[io.StringIO]:
    """The lines ``gateway.access`` writes, formatted as ``--log-format json`` writes them."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("gateway.access")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("req-2026.05_abc", True),
        ("Z" * 128, True),
        ("Z" * 129, False),  # too long
        ("has space", False),
        ("semi;colon", False),
        ("+14155550187", False),  # "+" is not allowed (and a phone number is no id)
        ("", False),
        (None, False),  # none sent: one is made
    ],
)
async def test_the_request_id_is_returned_sent_upstream_and_logged(
    start_gateway, fake: FakeRevox, access_log: io.StringIO, sent: str | None, kept: bool
) -> None:
    fake.script(reply(200, CAMPAIGN))
    metadata = () if sent is None else (("x-request-id", sent),)
    async with start_gateway(upstream_url=fake.base_url) as gw, \
            grpc.aio.insecure_channel(gw.address) as channel:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
        call = stub.GetCampaign(pb.GetCampaignRequest(id="cmp_1", skip_cache=True),
                                metadata=auth() + metadata)
        assert (await call).id == "cmp_1"
        returned = str(dict(await call.initial_metadata())["x-request-id"])
    if kept:
        assert returned == sent
    else:
        assert HEX32.fullmatch(returned) and returned != sent
    (upstream,) = [r for r in fake.requests if r.path == "/campaigns/cmp_1"]
    assert _header(upstream.headers, "x-request-id") == returned
    (line,) = [line for line in _lines(access_log) if line["method"] == "GetCampaign"]
    assert line["msg"] == "rpc" and line["level"] == "INFO" and line["logger"] == "gateway.access"
    assert line["request_id"] == returned and line["code"] == "OK"
    assert line["service"] == "revox.campaigns.v1.CampaignService"
    assert line["messages_sent"] == 1 and line["duration_ms"] >= 0
    assert HEX32.fullmatch(line["tenant"])
    assert ALICE not in json.dumps(line) and (not sent or kept or sent not in json.dumps(line))


async def test_every_upstream_call_of_an_rpc_carries_its_id_and_failures_are_logged(
    start_gateway, fake: FakeRevox, access_log: io.StringIO
) -> None:
    """A retried call sends the id on each attempt; a failing rpc's line has its code;
    two rpcs get two ids; an rpc without any key names no tenant."""
    fake.script(reply(503, {"error": "busy"}), reply(404, {"error": "not_found"}))
    async with start_gateway(upstream_url=fake.base_url) as gw, \
            grpc.aio.insecure_channel(gw.address) as channel:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stub.GetCampaign(pb.GetCampaignRequest(id="cmp_1"),
                                   metadata=auth() + (("x-request-id", "retried-1"),))
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        assert dict(missing.value.initial_metadata())["x-request-id"] == "retried-1"
        with pytest.raises(grpc.aio.AioRpcError) as anonymous:
            await stub.GetCampaign(pb.GetCampaignRequest(id="cmp_1"))
        assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    attempts = [r for r in fake.requests if r.path == "/campaigns/cmp_1"]
    assert len(attempts) == 2  # the 503, retried, then the 404
    assert {_header(r.headers, "x-request-id") for r in attempts} == {"retried-1"}
    first, second = [line for line in _lines(access_log) if line["method"] == "GetCampaign"]
    assert (first["request_id"], first["code"]) == ("retried-1", "NOT_FOUND")
    assert HEX32.fullmatch(first["tenant"]) and first["messages_sent"] == 0
    assert second["code"] == "UNAUTHENTICATED" and second["tenant"] is None
    assert HEX32.fullmatch(second["request_id"])


async def test_a_health_check_is_logged_at_debug_only(
    gateway, access_log: io.StringIO
) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    async with grpc.aio.insecure_channel(gateway.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        answer = await health.Check(health_pb2.HealthCheckRequest(service=""))
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    assert _lines(access_log) == []
