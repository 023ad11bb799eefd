"""The use cases' edges a client can see: the stale budget inside a deadline, the
write-behind of upstream reads, refusals and unreadable answers of the upstream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ..support import ALICE, auth, create_request, error_info
from ..upstream._fakes import FakeRevox, reply, serving


async def _cache_state(call: object) -> str:
    return str(dict(await call.trailing_metadata())["x-revox-cache"])  # type: ignore[attr-defined]


async def test_a_slow_upstream_serves_the_cached_copy_within_the_deadline(
    start_gateway, upstream: Simulator
) -> None:
    async with start_gateway(cache_ttl=0.0) as gw, grpc.aio.insecure_channel(gw.address) as ch:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(ch)
        cid = (await stub.CreateCampaign(create_request(1), metadata=auth())).id
        await stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=auth())
        upstream.faults.add_latency(4.0, method="GET")  # slower than the caller's deadline
        get = stub.GetCampaign(pb.GetCampaignRequest(id=cid), metadata=auth(), timeout=1.5)
        assert (await get).id == cid and await _cache_state(get) == "stale"
        lst = stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=auth(), timeout=1.5)
        assert [c.id for c in (await lst).campaigns] == [cid]
        assert await _cache_state(lst) == "stale"


async def test_an_upstream_read_is_what_the_next_cached_read_serves(
    stub, upstream: Simulator
) -> None:
    cid = (await stub.CreateCampaign(create_request(3), metadata=auth())).id
    await upstream.advance(900)  # calls move on upstream; the cached copy is the created one
    fresh = await stub.GetCampaign(pb.GetCampaignRequest(id=cid, skip_cache=True), metadata=auth())
    cached = stub.GetCampaign(pb.GetCampaignRequest(id=cid), metadata=auth())
    assert await cached == fresh and await _cache_state(cached) == "hit"
    listed = stub.ListCampaigns(pb.ListCampaignsRequest(skip_cache=True), metadata=auth())
    assert [c.id for c in (await listed).campaigns] == [cid]
    assert await _cache_state(listed) == "miss"


@pytest.fixture
async def fake() -> AsyncIterator[FakeRevox]:
    async with serving() as fake:
        yield fake


@pytest.mark.parametrize("rpc", ["CancelCampaign", "DeleteCampaign"])
async def test_an_upstream_refusal_is_failed_precondition(start_gateway, fake: FakeRevox, rpc: str) -> None:
    fake.script(reply(200, {"success": False}))
    async with start_gateway(upstream_url=fake.base_url) as gw, grpc.aio.insecure_channel(gw.address) as ch:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(ch)
        request = (pb.CancelCampaignRequest if rpc == "CancelCampaign" else pb.DeleteCampaignRequest)(id="cmp_1")
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await getattr(stub, rpc)(request, metadata=auth())
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(info.value).reason == "OPERATION_REFUSED"
    verb = "cancel" if rpc == "CancelCampaign" else "delete"
    assert info.value.details() == f"the Revox API refused to {verb} the campaign"


@pytest.mark.parametrize("body", [{"campaigns": {"not": "a list"}}, {"campaigns": [1, 2]}])
async def test_an_unreadable_list_is_internal_and_says_why(
    start_gateway, fake: FakeRevox, body: object
) -> None:
    fake.script(reply(200, body))
    async with start_gateway(upstream_url=fake.base_url) as gw, grpc.aio.insecure_channel(gw.address) as ch:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.ListCampaigns(pb.ListCampaignsRequest(skip_cache=True), metadata=auth())
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert "list response has no 'campaigns' array" in info.value.details()
    assert error_info(info.value).metadata["upstream_status"] == "200"


async def test_a_cancel_refreshes_the_cache_and_a_failed_one_evicts_it(
    stub, upstream: Simulator
) -> None:
    cid = (await stub.CreateCampaign(create_request(2), metadata=auth())).id
    upstream.faults.fail_next(20, status=500, method="POST")  # every retry too
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.CancelCampaign(pb.CancelCampaignRequest(id=cid), metadata=auth())
    before = upstream.request_count
    got = stub.GetCampaign(pb.GetCampaignRequest(id=cid), metadata=auth())
    await got
    assert await _cache_state(got) == "miss" and upstream.request_count == before + 1


async def test_upstream_reads_reach_the_shared_cache_another_gateway_serves(
    gateway, start_gateway, stub, upstream: Simulator
) -> None:
    # Reads are written behind (batched, on a timer): each campaign's newest read must land
    # in the database the replicas share, however many reads came in meanwhile.
    cids = [(await stub.CreateCampaign(create_request(2), metadata=auth())).id for _ in range(3)]
    await upstream.advance(900)  # the calls move on: the copies cached at create are stale
    fresh = {}
    for _ in range(2):  # reads land in the write-behind while a flush may be running
        for cid in cids:
            fresh[cid] = await stub.GetCampaign(
                pb.GetCampaignRequest(id=cid, skip_cache=True), metadata=auth()
            )
    tenant = gateway.db.tenants.tenant_of(ALICE)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:  # the timer flushes them: polled with a deadline, the write is behind by design
        stored = [await gateway.db.campaigns.get(tenant, cid) for cid in cids]
        if all(c is not None and _nonzero(c.payload.get("row_stats")) == _stats(fresh[cid])
               for c, cid in zip(stored, cids, strict=True)):
            break
        assert loop.time() < deadline, "the reads never reached the database"
        await asyncio.sleep(0.05)
    upstream.faults.fail_next(10_000, status=503, method="GET")  # only the cache answers now
    async with start_gateway() as other, grpc.aio.insecure_channel(other.address) as ch:
        other_stub = campaign_service_pb2_grpc.CampaignServiceStub(ch)
        for cid in cids:  # another process: what it serves was read from the database
            assert await other_stub.GetCampaign(pb.GetCampaignRequest(id=cid),
                                                metadata=auth()) == fresh[cid]


def _nonzero(stats: object) -> dict[str, object]:
    return {k: v for k, v in stats.items() if v} if isinstance(stats, dict) else {}


def _stats(campaign: object) -> dict[str, int]:
    stats = campaign.row_stats  # type: ignore[attr-defined]
    return {f.name: v for f, v in stats.ListFields()}
