"""The SQLite cache: TTL, stale-if-error, write-through, eviction, tenants."""

from __future__ import annotations

import asyncio

import grpc
import httpx
import pytest

from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ..support import ALICE, BOB, Bystander, auth, create_request


async def _get(stub, cid: str, **kw):
    call = stub.GetCampaign(pb.GetCampaignRequest(id=cid, **kw), metadata=auth())
    response = await call
    return response, dict(await call.trailing_metadata())["x-revox-cache"]


async def test_fresh_entries_are_served_without_upstream_calls(stub, upstream: Simulator, bob: Bystander) -> None:
    cid = (await stub.CreateCampaign(create_request(1), metadata=auth())).id
    await bob.step(cid)
    before = upstream.request_count
    for _ in range(5):
        got, state = await _get(stub, cid)
        assert got.id == cid and state == "hit"
    assert upstream.request_count == before
    _, state = await _get(stub, cid, skip_cache=True)
    assert state == "miss" and upstream.request_count == before + 1


async def test_expired_entries_are_refetched(start_gateway, upstream: Simulator) -> None:
    async with start_gateway(cache_ttl=0.0) as gw, grpc.aio.insecure_channel(gw.address) as ch:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(ch)
        cid = (await stub.CreateCampaign(create_request(1), metadata=auth())).id
        before = upstream.request_count
        _, state = await _get(stub, cid)
        assert state == "miss" and upstream.request_count == before + 1


async def test_stale_if_error_with_metadata(start_gateway, upstream: Simulator) -> None:
    async with start_gateway(cache_ttl=0.0) as gw, grpc.aio.insecure_channel(gw.address) as ch:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(ch)
        cid = (await stub.CreateCampaign(create_request(1), metadata=auth())).id
        await stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=auth())
        upstream.faults.fail_next(1000, status=503)
        got, state = await _get(stub, cid)
        assert got.id == cid and state == "stale"
        call = stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=auth())
        listed = await call
        assert [c.id for c in listed.campaigns] == [cid]
        assert dict(await call.trailing_metadata())["x-revox-cache"] == "stale"
        with pytest.raises(grpc.aio.AioRpcError) as info:  # nothing cached for bob
            await stub.GetCampaign(pb.GetCampaignRequest(id=cid), metadata=auth("sk_test_bob"))
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_cache_survives_restart_for_stale_reads(gateway, start_gateway, upstream: Simulator) -> None:
    async with grpc.aio.insecure_channel(gateway.address) as ch:
        cid = (await campaign_service_pb2_grpc.CampaignServiceStub(ch).CreateCampaign(create_request(1), metadata=auth())).id
    await gateway.stop()
    upstream.faults.fail_next(1000, status=503)
    async with start_gateway(cache_ttl=0.0) as gw, grpc.aio.insecure_channel(gw.address) as ch:
        got, state = await _get(campaign_service_pb2_grpc.CampaignServiceStub(ch), cid)
        assert got.id == cid and state == "stale"


async def test_delete_evicts_and_cancel_refreshes(stub, upstream: Simulator, bob: Bystander) -> None:
    cid = (await stub.CreateCampaign(create_request(2), metadata=auth())).id
    got, _ = await _get(stub, cid)
    assert not got.is_cancelled
    cancelled = await stub.CancelCampaign(pb.CancelCampaignRequest(id=cid), metadata=auth())
    assert cancelled.is_cancelled
    got, state = await _get(stub, cid)
    assert got.is_cancelled and state == "hit"
    await bob.step(cid)
    await stub.DeleteCampaign(pb.DeleteCampaignRequest(id=cid), metadata=auth())
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetCampaign(pb.GetCampaignRequest(id=cid), metadata=auth())
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=auth())
    assert cid not in [c.id for c in listed.campaigns]
    await bob.step(cid)


async def test_keys_never_stored_in_clear(stub, settings) -> None:
    await stub.CreateCampaign(create_request(1, request_id="k1"), metadata=auth("sk_test_secretive_key_123"))
    db_path = settings.database_url.split("///", 1)[1]
    import pathlib

    for path in pathlib.Path(db_path).parent.glob(pathlib.Path(db_path).name + "*"):
        assert b"sk_test_secretive_key_123" not in path.read_bytes()


async def _list(stub, key: str = ALICE, **kw) -> tuple[list[str], str]:
    call = stub.ListCampaigns(pb.ListCampaignsRequest(**kw), metadata=auth(key))
    listed = await call
    return sorted(c.id for c in listed.campaigns), dict(await call.trailing_metadata())["x-revox-cache"]


async def _cached_list(stub, key: str = ALICE) -> list[str]:
    """The tenant's list once it is served from the cache (lists are written behind)."""
    async with asyncio.timeout(5):
        while True:
            ids, state = await _list(stub, key)
            if state == "hit":
                return ids
            await asyncio.sleep(0.02)


async def test_cached_lists_are_per_tenant(stub, upstream: Simulator) -> None:
    alice = (await stub.CreateCampaign(create_request(1), metadata=auth(ALICE))).id
    bob = (await stub.CreateCampaign(create_request(1), metadata=auth(BOB))).id
    assert await _cached_list(stub, ALICE) == [alice]
    assert await _cached_list(stub, BOB) == [bob]
    # Bob's list changes and is read again: his new cached list replaces his old one only.
    bob2 = (await stub.CreateCampaign(create_request(1), metadata=auth(BOB))).id
    assert await _cached_list(stub, BOB) == sorted([bob, bob2])
    assert await _list(stub, ALICE) == ([alice], "hit")


async def test_a_list_after_a_create_shows_the_new_campaign(stub, upstream: Simulator, bob: Bystander) -> None:
    first = (await stub.CreateCampaign(create_request(1), metadata=auth())).id
    assert await _cached_list(stub) == [first]
    await bob.step(first)
    second = (await stub.CreateCampaign(create_request(1), metadata=auth())).id
    ids, _ = await _list(stub)
    assert ids == sorted([first, second])


async def test_an_expired_entry_is_served_stale_when_rate_limited(start_gateway, upstream: Simulator) -> None:
    async with start_gateway(cache_ttl=0.0) as gw, grpc.aio.insecure_channel(gw.address) as ch:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(ch)
        cid = (await stub.CreateCampaign(create_request(1), metadata=auth())).id
        _, state = await _get(stub, cid)
        assert state == "miss"
        # Retry-After far beyond any deadline: no retry, the cached copy is served.
        upstream.faults.rate_limit_next(1000, retry_after=3600, method="GET")
        got, state = await _get(stub, cid)
        assert got.id == cid and state == "stale"


async def test_a_campaign_deleted_upstream_is_not_found_from_then_on(
    stub, upstream: Simulator, bob: Bystander
) -> None:
    cid = (await stub.CreateCampaign(create_request(1), metadata=auth())).id
    _, state = await _get(stub, cid)
    assert state == "hit"
    await bob.step(cid)
    async with httpx.AsyncClient(base_url=upstream.base_url) as http:  # behind the gateway's back
        gone = await http.delete(f"/campaigns/{cid}", headers={"Authorization": f"Bearer {ALICE}"})
        assert gone.status_code == 200
    for skip_cache in (True, False):  # the 404 seen upstream evicts the cached copy
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await _get(stub, cid, skip_cache=skip_cache)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
