"""A campaign deleted and created again behind the same id is another campaign (issue 14):
its old streams end, its old tokens and request_ids are refused with FAILED_PRECONDITION,
and nothing of the old one is replayed as transitions of the new one."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from ..support import ALICE, auth, create_request, error_info, until_snapshot_complete


async def recreate(stub: Any, upstream: Simulator, cid: str, n: int = 2) -> None:
    """Put another campaign under ``cid`` in one step, as an upstream that restored a backup
    or recycled ids would (a later ``created_at``, other rows): a poller never sees the id
    missing in between (that alone ends streams with NOT_FOUND, a case of its own)."""
    await upstream.advance(60)
    other = await stub.CreateCampaign(create_request(n, name="Someone else's"), metadata=auth())
    org = upstream.store.org(ALICE)
    old = org.campaigns.get(cid)
    if old is not None:
        upstream.store.delete(org, old)
    campaign = org.campaigns.pop(other.id)
    campaign.id = cid
    org.campaigns[cid] = campaign


async def _error_of(stream: Any, timeout: float = 20) -> tuple[grpc.aio.AioRpcError, list[Any]]:
    seen: list[Any] = []
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async with asyncio.timeout(timeout):
            while (message := await stream.read()) is not grpc.aio.EOF:
                seen.append(message)
    return info.value, seen


async def test_a_stream_of_a_recreated_campaign_ends_without_replaying_it(
    stub, upstream: Simulator
) -> None:
    cid = (await stub.CreateCampaign(create_request(3), metadata=auth())).id
    stream = stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=cid), metadata=auth())
    snapshot = await until_snapshot_complete(stream)
    old_rows = {m.row_change.row.id for m in snapshot if m.WhichOneof("event") == "row_change"}
    await recreate(stub, upstream, cid)
    error, after = await _error_of(stream)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(error).reason == "CAMPAIGN_RECREATED"
    assert "created again" in error.details()
    # Neither the old rows' removal nor the new rows' arrival was told as a change. The
    # old rows may still have moved before the swap (recreate advances the simulated
    # clock 60 s first, and their calls start): those are the old campaign's own changes
    # (seen failing so in a `make repeat` run).
    told = [m.row_change for m in after if m.WhichOneof("event") == "row_change"]
    assert all(rc.type == pb.ROW_CHANGE_TYPE_ROW_MODIFIED and rc.row.id in old_rows
               for rc in told), told


async def test_an_old_incarnation_token_is_refused_and_a_new_watch_sees_the_new_rows(
    stub, upstream: Simulator
) -> None:
    cid = (await stub.CreateCampaign(create_request(3), metadata=auth())).id
    stream = stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=cid), metadata=auth())
    old = await until_snapshot_complete(stream)
    stream.cancel()
    old_rows = {m.row_change.row.id for m in old if m.WhichOneof("event") == "row_change"}
    await recreate(stub, upstream, cid, n=2)
    resumed = stub.WatchCampaignRows(
        pb.WatchCampaignRowsRequest(campaign_id=cid, resume_token=old[-1].resume_token),
        metadata=auth(),
    )
    error, seen = await _error_of(resumed)
    # Refused at admission, or, while the key's admission of the campaign is still cached
    # (admission_ttl, 5 s), ended by the poller's incarnation check: never a row change.
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert [m for m in seen if m.WhichOneof("event") == "row_change"] == []
    assert error_info(error).reason == "CAMPAIGN_RECREATED"
    fresh = stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=cid), metadata=auth())
    snapshot = await until_snapshot_complete(fresh)
    fresh.cancel()
    new_rows = {m.row_change.row.id for m in snapshot if m.WhichOneof("event") == "row_change"}
    assert len(new_rows) == 2 and not new_rows & old_rows
    assert snapshot[-1].snapshot_complete.row_count == 2


async def test_a_request_id_of_a_recreated_campaign_is_not_replayed_onto_the_new_one(
    stub, upstream: Simulator
) -> None:
    request = create_request(2, request_id="walkthrough-1")
    first = await stub.CreateCampaign(request, metadata=auth())
    await stub.DeleteCampaign(pb.DeleteCampaignRequest(id=first.id), metadata=auth())
    # Deleted only: the replay still answers the campaign it created (AIP-155).
    again = await stub.CreateCampaign(request, metadata=auth())
    assert again.id == first.id
    await recreate(stub, upstream, first.id)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateCampaign(request, metadata=auth())
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(info.value).reason == "CAMPAIGN_RECREATED"
    assert "new request_id" in info.value.details()
