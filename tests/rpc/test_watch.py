"""WatchCampaignRows over a real port: snapshot, live, resume, restart, bad tokens; every
test against an upstream counting pages from 0 and one counting from 1 (issue 12)."""

from __future__ import annotations

import asyncio
import base64

import grpc
import pytest
from google.protobuf import duration_pb2

from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ..support import (
    Bystander,
    auth,
    create_request,
    driving,
    error_info,
    next_change,
    read_messages,
    until_snapshot_complete,
)

ADDED = pb.ROW_CHANGE_TYPE_ROW_ADDED


@pytest.fixture(params=[0, 1], ids=["pages-from-0", "pages-from-1"])
def page_base(request: pytest.FixtureRequest) -> int:
    return int(request.param)


async def test_a_watch_without_snapshot_holds_a_token_from_its_first_message(
    stub, upstream: Simulator
) -> None:
    cid = (await stub.CreateCampaign(create_request(3), metadata=auth())).id
    quiet = duration_pb2.Duration(seconds=300)  # no heartbeat would come for five minutes
    stream = stub.WatchCampaignRows(
        pb.WatchCampaignRowsRequest(
            campaign_id=cid, send_initial_snapshot=False, heartbeat_interval=quiet
        ),
        metadata=auth(),
    )
    async with asyncio.timeout(10):
        first = await stream.read()
    stream.cancel()  # the client drops before anything changed
    assert first.WhichOneof("event") == "heartbeat" and first.resume_token
    async with driving(upstream, finish=False):
        resumed = stub.WatchCampaignRows(
            pb.WatchCampaignRowsRequest(campaign_id=cid, resume_token=first.resume_token),
            metadata=auth(),
        )
        changed: set[str] = set()
        revisions: list[int] = []
        while len(changed) < 3:  # every row changes as calls go on: none is missed
            m = await next_change(resumed)
            changed.add(m.row_change.row.id)
            revisions.append(m.revision)
        resumed.cancel()
    assert revisions == sorted(revisions) and revisions[0] > first.revision


async def test_a_resume_with_nothing_missed_answers_at_once(stub, upstream: Simulator) -> None:
    cid = (await stub.CreateCampaign(create_request(2), metadata=auth())).id
    stream = stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=cid), metadata=auth())
    token = (await until_snapshot_complete(stream))[-1].resume_token
    stream.cancel()
    resumed = stub.WatchCampaignRows(
        pb.WatchCampaignRowsRequest(
            campaign_id=cid, resume_token=token, heartbeat_interval=duration_pb2.Duration(seconds=300)
        ),
        metadata=auth(),
    )
    async with asyncio.timeout(10):
        first = await resumed.read()
    resumed.cancel()
    assert first.WhichOneof("event") == "heartbeat" and first.resume_token


async def test_snapshot_then_live_then_resume_without_gap_or_duplicate(
    stub, upstream: Simulator, bob: Bystander
) -> None:
    cid = (await stub.CreateCampaign(create_request(6), metadata=auth())).id
    first = stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=cid), metadata=auth())
    snap = await until_snapshot_complete(first)
    assert sum(1 for m in snap if m.WhichOneof("event") == "row_change" and m.row_change.type == ADDED) == 6
    assert snap[-1].snapshot_complete.row_count == 6
    await bob.step(cid)  # a second tenant, while the campaign is watched
    async with driving(upstream, finish=False):
        seen = await read_messages(first, 4)  # then the client dies mid-stream
        last = seen[-1].resume_token
        delivered = {(m.revision, m.row_change.row.id, m.row_change.row.call.status_raw) for m in seen
                     if m.WhichOneof("event") == "row_change"}
        resumed = stub.WatchCampaignRows(
            pb.WatchCampaignRowsRequest(campaign_id=cid, resume_token=last), metadata=auth()
        )
        more = await read_messages(resumed, 4, hang_up=False)
    assert all(m.WhichOneof("event") != "snapshot_complete" for m in more)
    again = {(m.revision, m.row_change.row.id, m.row_change.row.call.status_raw) for m in more
             if m.WhichOneof("event") == "row_change"}
    assert not delivered & again
    revisions = [m.revision for m in seen + more if m.WhichOneof("event") == "row_change"]
    assert revisions == sorted(revisions)
    resumed.cancel()


async def test_resume_after_gateway_restart(gateway, start_gateway, upstream: Simulator) -> None:
    async with grpc.aio.insecure_channel(gateway.address) as ch:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(ch)
        cid = (await stub.CreateCampaign(create_request(4), metadata=auth())).id
        stream = stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=cid), metadata=auth())
        token = (await until_snapshot_complete(stream))[-1].resume_token
        stream.cancel()
    await gateway.stop()
    await upstream.advance(600)  # rows change while the gateway is down
    async with start_gateway() as again, grpc.aio.insecure_channel(again.address) as ch:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(ch)
        resumed = stub.WatchCampaignRows(
            pb.WatchCampaignRowsRequest(campaign_id=cid, resume_token=token), metadata=auth()
        )
        changes = await read_messages(resumed, 1, hang_up=False)
        assert changes[-1].row_change.type == pb.ROW_CHANGE_TYPE_ROW_MODIFIED
        resumed.cancel()


async def _first_error(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in call:
            pass
    return info.value


async def test_forged_and_foreign_tokens_are_refused(stub, upstream: Simulator) -> None:
    cid = (await stub.CreateCampaign(create_request(2), metadata=auth())).id
    other = (await stub.CreateCampaign(create_request(2), metadata=auth())).id
    stream = stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=cid), metadata=auth())
    token = (await until_snapshot_complete(stream))[-1].resume_token
    stream.cancel()
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[len(raw) // 2] ^= 0x01
    forged = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    for request in (
        pb.WatchCampaignRowsRequest(campaign_id=cid, resume_token=forged),
        pb.WatchCampaignRowsRequest(campaign_id=cid, resume_token="not-a-token"),
        pb.WatchCampaignRowsRequest(campaign_id=other, resume_token=token),
        pb.WatchCampaignRowsRequest(campaign_id=cid, resume_token=token, query="ada"),
    ):
        error = await _first_error(stub.WatchCampaignRows(request, metadata=auth()))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, request
        assert error_info(error).reason == "RESUME_TOKEN_INVALID"


async def test_expired_token_is_out_of_range(start_gateway, upstream: Simulator) -> None:
    async with start_gateway(retention_seconds=0.0) as gw, grpc.aio.insecure_channel(gw.address) as ch:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(ch)
        cid = (await stub.CreateCampaign(create_request(3), metadata=auth())).id
        stream = stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=cid), metadata=auth())
        token = (await until_snapshot_complete(stream))[-1].resume_token
        async with driving(upstream, finish=False):
            await read_messages(stream, 2)
        await gw.db.changelog.compact(older_than=float("inf"))  # retention elapsed
        error = await _first_error(
            stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=cid, resume_token=token), metadata=auth())
        )
        assert error.code() == grpc.StatusCode.OUT_OF_RANGE
        assert error_info(error).reason == "RESUME_TOKEN_EXPIRED"


async def test_idle_heartbeats_and_other_tenant_not_found(stub, upstream: Simulator) -> None:
    cid = (await stub.CreateCampaign(create_request(1), metadata=auth())).id
    error = await _first_error(
        stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=cid), metadata=auth("sk_test_bob"))
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    stream = stub.WatchCampaignRows(
        pb.WatchCampaignRowsRequest(campaign_id=cid, heartbeat_interval=duration_pb2.Duration(seconds=1)),
        metadata=auth(),
    )
    snap = await until_snapshot_complete(stream)
    async with asyncio.timeout(10):
        beat = await stream.read()
    assert beat.WhichOneof("event") == "heartbeat"
    assert beat.resume_token and beat.revision == snap[-1].revision
    stream.cancel()


async def test_shutdown_ends_streams_with_unavailable(start_gateway, upstream: Simulator) -> None:
    gw = await start_gateway().__aenter__()
    async with grpc.aio.insecure_channel(gw.address) as ch:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(ch)
        cid = (await stub.CreateCampaign(create_request(1), metadata=auth())).id
        stream = stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=cid), metadata=auth())
        await until_snapshot_complete(stream)
        stopping = asyncio.create_task(gw.stop())
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async with asyncio.timeout(10):
                while True:
                    await stream.read()
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        await stopping


async def test_a_snapshot_larger_than_one_upstream_page_has_every_row(
    stub, upstream: Simulator
) -> None:
    # The poller reads 1,000 rows a page: 1,001 rows take two pages in either base.
    cid = (await stub.CreateCampaign(create_request(1001), metadata=auth())).id
    stream = stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=cid), metadata=auth())
    snap = await until_snapshot_complete(stream, timeout=60)
    stream.cancel()
    ids = {m.row_change.row.id for m in snap if m.WhichOneof("event") == "row_change"}
    assert len(ids) == 1001 and snap[-1].snapshot_complete.row_count == 1001
