"""Shared fixtures: a real simulator, a real gateway on port 0, a real channel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest

from gateway.app import Gateway
from gateway.config import Settings
from gateway.simulator import Simulator, SimulatorConfig
from gateway.store import sqlite_url
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

ALICE = "sk_test_alice"
BOB = "sk_test_bob"


def auth(key: str = ALICE) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


@pytest.fixture
async def upstream() -> AsyncIterator[Simulator]:
    async with Simulator(SimulatorConfig(seed=7, clock="manual")) as sim:
        yield sim


@pytest.fixture
def settings(tmp_path: Path, upstream: Simulator) -> Settings:
    return Settings(
        listen="127.0.0.1:0",
        upstream_url=upstream.base_url,
        database_url=sqlite_url(tmp_path / "gateway.db"),
        cache_ttl=30.0,
        shutdown_grace=2.0,
        upstream_timeout=5.0,
        poll_interval=0.05,
        max_poll_interval=0.2,
        linger_seconds=0.2,
    )


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[Gateway]:
    async with Gateway(settings) as gw:
        yield gw


@pytest.fixture
async def channel(gateway: Gateway) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(gateway.address) as ch:
        yield ch


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> campaign_service_pb2_grpc.CampaignServiceStub:
    return campaign_service_pb2_grpc.CampaignServiceStub(channel)


@pytest.fixture
def start_gateway(settings: Settings) -> Callable[..., Any]:
    """Start another gateway on the same database (restarts), with overrides."""

    def start(**overrides: Any) -> Gateway:
        return Gateway(replace(settings, **overrides))

    return start


class Bystander:
    """Bob: a second tenant acting on the same gateway between the steps of a test
    run as Alice, so that every cache, list, watch and idempotency test also checks
    that two tenants interleaved never see each other's data.

    ``await bob.step(alice_ids)`` reads through every per-tenant path (his cached
    list, his campaign, a watch of it, a create with the request_id Alice uses) and
    asserts that he sees exactly his own campaigns and that each of Alice's
    campaigns is NOT_FOUND for him, also on a campaign Alice is watching.
    """

    REQUEST_ID = "shared-request-id"  # tests use it as Alice too: ids are per tenant

    def __init__(self, stub: campaign_service_pb2_grpc.CampaignServiceStub) -> None:
        self.stub = stub
        self.campaigns: set[str] = set()

    async def join(self) -> Bystander:
        request = pb.CreateCampaignRequest(
            assistant_id="asst_bob", name="Bob's campaign", request_id=self.REQUEST_ID,
            contacts=[pb.Contact(to_phone_number="+447700900123")],
        )
        self.campaigns.add((await self.stub.CreateCampaign(request, metadata=auth(BOB))).id)
        return self

    async def step(self, *alice_ids: str) -> None:
        (mine,) = self.campaigns
        again = pb.CreateCampaignRequest(
            assistant_id="asst_bob", name="Bob's campaign", request_id=self.REQUEST_ID,
            contacts=[pb.Contact(to_phone_number="+447700900123")],
        )
        assert (await self.stub.CreateCampaign(again, metadata=auth(BOB))).id == mine
        listed = await self.stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=auth(BOB))
        assert {c.id for c in listed.campaigns} == self.campaigns
        assert (await self.stub.GetCampaign(pb.GetCampaignRequest(id=mine), metadata=auth(BOB))).id == mine
        watch = self.stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=mine), metadata=auth(BOB))
        rows = []
        async with asyncio.timeout(20):
            while (m := await watch.read()).WhichOneof("event") != "snapshot_complete":
                rows.append(m.row_change.row.phone_number)
        watch.cancel()
        assert rows == ["+447700900123"]
        for cid in alice_ids:
            for call in (
                self.stub.GetCampaign(pb.GetCampaignRequest(id=cid), metadata=auth(BOB)),
                self.stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=cid), metadata=auth(BOB)).read(),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await call
                assert info.value.code() == grpc.StatusCode.NOT_FOUND, cid


@pytest.fixture
async def bob(stub: campaign_service_pb2_grpc.CampaignServiceStub) -> Bystander:
    return await Bystander(stub).join()
