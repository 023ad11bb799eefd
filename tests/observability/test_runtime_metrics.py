"""``revox_gateway_event_loop_tasks`` over a real scrape: it counts the tasks a watch
stream keeps alive (its handler, its poller) and falls back once the streams end, so a
soak can tell a leak from a load."""

from __future__ import annotations

import asyncio

import grpc

from gateway.app import Gateway
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ..support import auth, create_request, until_snapshot_complete
from ._support import scrape

TASKS = "revox_gateway_event_loop_tasks"


async def _settled(gateway: Gateway, at_most: float, deadline: float = 20.0) -> float:
    """The gauge once it is at most ``at_most`` (polled: stream teardown is asynchronous)."""
    async with asyncio.timeout(deadline):
        while True:
            tasks = (await scrape(gateway)).value(TASKS)
            if tasks <= at_most:
                return tasks
            await asyncio.sleep(0.05)


async def test_the_task_gauge_rises_with_open_streams_and_falls_when_they_end(
    gateway: Gateway, stub: campaign_service_pb2_grpc.CampaignServiceStub
) -> None:
    cid = (await stub.CreateCampaign(create_request(2), metadata=auth())).id
    idle = (await scrape(gateway)).value(TASKS)
    assert idle >= 1  # at least the scrape's own handler

    streams = [stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=cid),
                                      metadata=auth()) for _ in range(5)]
    for stream in streams:
        await until_snapshot_complete(stream)
    busy = (await scrape(gateway)).value(TASKS)
    assert busy >= idle + 5, (idle, busy)  # one server task per open stream, at least

    for stream in streams:
        stream.cancel()
    for stream in streams:
        try:
            await stream.read()
        except (asyncio.CancelledError, grpc.aio.AioRpcError):
            pass
    await _settled(gateway, at_most=idle)
