"""The SQLite cache: TTL, stale-if-error, write-through, eviction, tenants."""

from __future__ import annotations

import grpc
import pytest

from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ..conftest import auth
from .helpers import create_request


async def _get(stub, cid: str, **kw):
    call = stub.GetCampaign(pb.GetCampaignRequest(id=cid, **kw), metadata=auth())
    response = await call
    return response, dict(await call.trailing_metadata())["x-revox-cache"]


async def test_fresh_entries_are_served_without_upstream_calls(stub, upstream: Simulator) -> None:
    cid = (await stub.CreateCampaign(create_request(1), metadata=auth())).id
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


async def test_delete_evicts_and_cancel_refreshes(stub, upstream: Simulator) -> None:
    cid = (await stub.CreateCampaign(create_request(2), metadata=auth())).id
    got, _ = await _get(stub, cid)
    assert not got.is_cancelled
    cancelled = await stub.CancelCampaign(pb.CancelCampaignRequest(id=cid), metadata=auth())
    assert cancelled.is_cancelled
    got, state = await _get(stub, cid)
    assert got.is_cancelled and state == "hit"
    await stub.DeleteCampaign(pb.DeleteCampaignRequest(id=cid), metadata=auth())
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetCampaign(pb.GetCampaignRequest(id=cid), metadata=auth())
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=auth())
    assert cid not in [c.id for c in listed.campaigns]


async def test_keys_never_stored_in_clear(stub, settings) -> None:
    await stub.CreateCampaign(create_request(1, request_id="k1"), metadata=auth("sk_test_secretive_key_123"))
    db_path = settings.database_url.split("///", 1)[1]
    import pathlib

    for path in pathlib.Path(db_path).parent.glob(pathlib.Path(db_path).name + "*"):
        assert b"sk_test_secretive_key_123" not in path.read_bytes()
