"""The HTTP/2 limits of the gRPC server (gateway/rpc/_server.py), over real ports (issue 16):
keepalive enforcement against a ping flood, streams per connection, and the documented
values."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from gateway.app import Gateway
from gateway.limits import LimitSettings
from gateway.rpc._server import _HTTP2_LIMITS, _PENDING_CALLS
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ..support import auth, create_request, until_snapshot_complete

Stub = campaign_service_pb2_grpc.CampaignServiceStub
README = Path(__file__).resolve().parents[2] / "README.md"
LIMITS = dict(_HTTP2_LIMITS)
PER_CONNECTION = int(LIMITS["grpc.max_concurrent_streams"])
WATCH = {"grpc_type": "server_stream", "grpc_service": "revox.campaigns.v1.CampaignService",
         "grpc_method": "WatchCampaignRows"}

# A client that pings every 50 ms, with or without calls and data: far inside the
# server's 10 s minimum interval (grpc.http2.min_ping_interval_without_data_ms).
PING_FLOOD = (
    ("grpc.keepalive_time_ms", 50),
    ("grpc.keepalive_timeout_ms", 1000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    # its own connection: grpc shares one among channels of equal target and options
    ("grpc.use_local_subchannel_pool", 1),
)


def _watch(stub: Stub, campaign_id: str, **fields: Any) -> Any:
    return stub.WatchCampaignRows(
        pb.WatchCampaignRowsRequest(campaign_id=campaign_id, **fields), metadata=auth())


async def _ended(stream: Any, timeout: float = 30) -> grpc.aio.AioRpcError:
    """The error a stream ends with (reading through its messages)."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                if await stream.read() is grpc.aio.EOF:
                    raise AssertionError("the stream ended OK")
            except grpc.aio.AioRpcError as exc:
                return exc


async def test_a_ping_flood_earns_a_goaway_and_a_calm_client_goes_on(
    gateway: Gateway, channel: grpc.aio.Channel,
) -> None:
    calm = Stub(channel)
    cid = (await calm.CreateCampaign(create_request(2), metadata=auth())).id
    heartbeat = {"heartbeat_interval": {"seconds": 1}}
    steady = _watch(calm, cid, **heartbeat)
    await until_snapshot_complete(steady)
    async with grpc.aio.insecure_channel(gateway.address, options=PING_FLOOD) as flooding:
        quiet = _watch(Stub(flooding), cid)  # no data flows after the snapshot: pings do
        await until_snapshot_complete(quiet)
        error = await _ended(quiet)
    # GOAWAY ENHANCE_YOUR_CALM "too_many_pings": grpc fails the calls on that connection
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "too many pings" in (error.details() or "").lower()
    # The calm client's stream and connection were not touched.
    async with asyncio.timeout(10):
        beat = await steady.read()
        while beat.WhichOneof("event") != "heartbeat":
            beat = await steady.read()
    assert not steady.done()
    assert (await calm.GetCampaign(pb.GetCampaignRequest(id=cid), metadata=auth())).id == cid
    steady.cancel()


@pytest.fixture
async def crowded(start_gateway: Callable[..., Gateway]) -> AsyncIterator[Gateway]:
    # The per-key cap out of the way: this test is about the per-connection limit.
    async with start_gateway(max_watch_streams_per_key=PER_CONNECTION * 2) as gw:
        yield gw


def _started(gw: Gateway) -> float:
    return gw.metrics.registry.get_sample_value("grpc_server_started_total", WATCH) or 0.0


async def test_streams_past_the_per_connection_limit_wait_instead_of_failing(
    crowded: Gateway,
) -> None:
    extra = 5
    async with grpc.aio.insecure_channel(crowded.address) as ch, \
            grpc.aio.insecure_channel(crowded.address,
                                      options=(("grpc.use_local_subchannel_pool", 1),)) as other:
        stub = Stub(ch)
        cid = (await stub.CreateCampaign(create_request(2), metadata=auth())).id
        admitted = [_watch(stub, cid) for _ in range(PER_CONNECTION)]
        await asyncio.gather(*(until_snapshot_complete(s, timeout=120) for s in admitted))
        waiting = [_watch(stub, cid) for _ in range(extra)]
        # A stream opened after them on another connection is served: the server is not
        # stalled, yet the ones past the limit on the first connection never reached it.
        witness = _watch(Stub(other), cid)
        await until_snapshot_complete(witness)
        assert _started(crowded) == PER_CONNECTION + 1
        assert crowded.watch is not None
        assert crowded.watch.stats()["subscribers"] == PER_CONNECTION + 1
        assert not any(s.done() for s in waiting)
        for s in admitted[:extra]:  # slots free up: the waiting streams start, none fails
            s.cancel()
        await asyncio.gather(*(until_snapshot_complete(s) for s in waiting))
        assert _started(crowded) == PER_CONNECTION + 1 + extra
        for s in (*admitted, *waiting, witness):
            s.cancel()


def test_the_limits_are_the_documented_ones() -> None:
    text = " ".join(README.read_text().split())
    found = re.search(r"HTTP/2 limits per connection \(([\d,]+) concurrent streams, pings no "
                      r"more often than every (\d+) s without data", text)
    assert found, "README no longer states the HTTP/2 limits"
    assert int(found.group(1).replace(",", "")) == PER_CONNECTION
    assert int(found.group(2)) * 1000 == LIMITS["grpc.http2.min_ping_interval_without_data_ms"]
    assert LIMITS["grpc.http2.max_ping_strikes"] > 0  # 0 would let a client ping at will
    # The backlog of calls not yet accepted holds a burst as large as the process's stream
    # cap, so core never drops a stream that the gateway would serve or refuse with a detail.
    pending = dict(_PENDING_CALLS)
    assert pending["grpc.server.max_pending_requests"] >= LimitSettings().max_watch_streams
    assert pending["grpc.server.max_pending_requests_hard_limit"] >= \
        pending["grpc.server.max_pending_requests"]
