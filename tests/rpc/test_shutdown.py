"""Graceful shutdown: NOT_SERVING, in-flight unary calls finish, then the port closes."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ..support import auth


async def test_in_flight_calls_finish_within_grace(start_gateway, upstream: Simulator) -> None:
    gw = await start_gateway(shutdown_grace=5.0).__aenter__()
    async with grpc.aio.insecure_channel(gw.address) as ch:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(ch)
        health = health_pb2_grpc.HealthStub(ch)
        assert (await health.Check(health_pb2.HealthCheckRequest())).status == health_pb2.HealthCheckResponse.SERVING
        upstream.faults.add_latency(0.5, method="GET")
        in_flight = asyncio.ensure_future(
            stub.ListCampaigns(pb.ListCampaignsRequest(skip_cache=True), metadata=auth(), timeout=10)
        )
        async with asyncio.timeout(5):  # poll, with a deadline, until it reached the upstream
            while upstream.request_count == 0:
                await asyncio.sleep(0.01)
        stopping = asyncio.ensure_future(gw.stop())
        listed = await in_flight
        assert len(listed.campaigns) == 0
        await asyncio.wait_for(stopping, timeout=10)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=auth(), timeout=2)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_health_reports_not_serving_while_draining(start_gateway, upstream: Simulator) -> None:
    gw = await start_gateway(shutdown_grace=5.0).__aenter__()
    await gw.health.enter_graceful_shutdown()
    async with grpc.aio.insecure_channel(gw.address) as ch:
        status = (await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest())).status
    assert status == health_pb2.HealthCheckResponse.NOT_SERVING
    await gw.stop()
