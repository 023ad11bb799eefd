"""Load caps over a real port (issue 16 B): watch streams per key and per process, one
admission GET for many streams, contacts of creates in flight, per-key unary rate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from gateway.app import Gateway
from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ..support import ALICE, BOB, auth, create_request, detail, error_info, until_snapshot_complete

Stub = campaign_service_pb2_grpc.CampaignServiceStub


@asynccontextmanager
async def _gateway(start_gateway: Callable[..., Gateway], **overrides: Any) -> AsyncIterator[
        tuple[Gateway, Stub]]:
    async with start_gateway(**overrides) as gw, grpc.aio.insecure_channel(gw.address) as ch:
        yield gw, Stub(ch)


def _refused(error: BaseException, cap: str) -> None:
    assert isinstance(error, grpc.aio.AioRpcError), error
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    info = error_info(error)
    assert (info.reason, info.metadata["cap"]) == ("LIMIT_EXCEEDED", cap)
    retry = detail(error, error_details_pb2.RetryInfo)
    assert isinstance(retry, error_details_pb2.RetryInfo)
    assert retry.retry_delay.seconds > 0 or retry.retry_delay.nanos > 0


def _refusals(gw: Gateway, cap: str) -> float:
    return float(gw.metrics.limits.refusals.labels(cap)._value.get())


async def _watch(stub: Stub, campaign_id: str, key: str = ALICE) -> Any:
    stream = stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=campaign_id),
                                    metadata=auth(key))
    await until_snapshot_complete(stream)
    return stream


async def _refused_watch(stub: Stub, campaign_id: str, cap: str, key: str = ALICE) -> None:
    stream = stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=campaign_id),
                                    metadata=auth(key))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stream.read()
    _refused(info.value, cap)


async def test_watch_streams_per_key(start_gateway: Callable[..., Gateway]) -> None:
    async with _gateway(start_gateway, max_watch_streams_per_key=2) as (gw, stub):
        alice = (await stub.CreateCampaign(create_request(2), metadata=auth())).id
        bob = (await stub.CreateCampaign(create_request(1), metadata=auth(BOB))).id
        streams = [await _watch(stub, alice) for _ in range(2)]
        await _refused_watch(stub, alice, "watch_streams_per_key")
        streams.append(await _watch(stub, bob, BOB))  # another key has its own cap
        assert _refusals(gw, "watch_streams_per_key") == 1
        for s in streams:
            s.cancel()


async def test_watch_streams_per_process(start_gateway: Callable[..., Gateway]) -> None:
    async with _gateway(start_gateway, max_watch_streams=2) as (gw, stub):
        alice = (await stub.CreateCampaign(create_request(2), metadata=auth())).id
        bob = (await stub.CreateCampaign(create_request(1), metadata=auth(BOB))).id
        streams = [await _watch(stub, alice), await _watch(stub, bob, BOB)]
        await _refused_watch(stub, bob, "watch_streams", BOB)
        assert _refusals(gw, "watch_streams") == 1
        for s in streams:
            s.cancel()


async def test_streams_opened_together_cost_one_admission_read(
    start_gateway: Callable[..., Gateway],
) -> None:
    async with _gateway(start_gateway) as (gw, stub):
        cid = (await stub.CreateCampaign(create_request(2), metadata=auth())).id
        streams = await asyncio.gather(*(_watch(stub, cid) for _ in range(8)))
        assert gw.watch is not None and gw.watch.stats()["admission_requests"] == 1
        for s in streams:
            s.cancel()


async def test_contacts_of_creates_in_flight(
    start_gateway: Callable[..., Gateway], upstream: Simulator
) -> None:
    async with _gateway(start_gateway, max_create_contacts=3) as (gw, stub):
        assert (await stub.CreateCampaign(create_request(5), metadata=auth())).id  # alone: admitted
        upstream.faults.add_latency(0.3, method="POST")
        first = asyncio.ensure_future(stub.CreateCampaign(create_request(2), metadata=auth()))
        async with asyncio.timeout(5):  # until the first is at the upstream
            while sum(r.method == "POST" for r in upstream.received) < 2:
                await asyncio.sleep(0.005)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.CreateCampaign(create_request(2, name="second"), metadata=auth(BOB))
        _refused(info.value, "create_contacts")
        assert (await first).id and _refusals(gw, "create_contacts") == 1


async def test_unary_rate_per_key(start_gateway: Callable[..., Gateway]) -> None:
    async with _gateway(start_gateway, rate_per_second=0.01, rate_burst=3) as (gw, stub):
        for _ in range(3):
            await stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=auth())
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=auth())
        _refused(info.value, "rate")
        await stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=auth(BOB))  # its own bucket
        assert _refusals(gw, "rate") == 1
