"""Partial responses (AIP-157) over a real port: read_mask on Get, List, ListCampaignRows and
WatchCampaignRows; a masked watch hears of a modification only when a masked field changed."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_pb2, row_pb2
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from ..support import (
    auth,
    create_request,
    read_messages,
    until_final,
    until_snapshot_complete,
    violated_fields,
)

MODIFIED = pb.ROW_CHANGE_TYPE_ROW_MODIFIED


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def set_fields(message: Any) -> set[str]:
    return {field.name for field, _ in message.ListFields()}


async def test_get_and_list_return_only_the_masked_fields(stub, upstream: Simulator) -> None:
    cid = (await stub.CreateCampaign(create_request(2), metadata=auth())).id
    got = await stub.GetCampaign(
        pb.GetCampaignRequest(id=cid, read_mask=mask("id", "status", "row_stats.total")),
        metadata=auth(),
    )
    assert set_fields(got) == {"id", "status", "row_stats"}
    assert set_fields(got.row_stats) == {"total"} and got.row_stats.total == 2
    full = await stub.GetCampaign(pb.GetCampaignRequest(id=cid), metadata=auth())
    assert {"assistant", "name", "created_at"} <= set_fields(full)
    everything = await stub.GetCampaign(
        pb.GetCampaignRequest(id=cid, read_mask=mask("*")), metadata=auth()
    )
    assert everything == full
    listed = await stub.ListCampaigns(
        pb.ListCampaignsRequest(read_mask=mask("id", "name")), metadata=auth()
    )
    assert [(c.id, c.name) for c in listed.campaigns] == [(cid, full.name)]
    assert all(set_fields(c) == {"id", "name"} for c in listed.campaigns)


async def test_rows_return_only_the_masked_fields(stub, upstream: Simulator) -> None:
    cid = (await stub.CreateCampaign(create_request(3), metadata=auth())).id
    rows = await stub.ListCampaignRows(
        pb.ListCampaignRowsRequest(campaign_id=cid, read_mask=mask("id", "call.status")),
        metadata=auth(),
    )
    assert len(rows.rows) == 3 and rows.total == 3
    for row in rows.rows:
        assert set_fields(row) == {"id", "call"} and set_fields(row.call) == {"status"}
        assert row.call.status != row_pb2.CALL_STATUS_UNSPECIFIED


async def test_a_masked_status_keeps_a_literal_newer_than_the_contract(
    stub, upstream: Simulator
) -> None:
    cid = (await stub.CreateCampaign(create_request(4), metadata=auth())).id
    await upstream.advance(5)  # the rows are queued
    upstream.faults.drift = True
    upstream.faults.drift_status_literals = {"queued_for_calling": "waiting_in_line"}
    got = await stub.ListCampaignRows(
        pb.ListCampaignRowsRequest(campaign_id=cid, read_mask=mask("id", "call.status")),
        metadata=auth(),
    )
    renamed = [r for r in got.rows if r.call.status_raw == "waiting_in_line"]
    assert renamed and all(r.call.status == row_pb2.CALL_STATUS_UNSPECIFIED for r in renamed)
    known = [r for r in got.rows if r.call.status != row_pb2.CALL_STATUS_UNSPECIFIED]
    assert all(not r.call.status_raw for r in known)  # a known value: exactly the mask


BAD = [
    ("GetCampaign", lambda m: pb.GetCampaignRequest(id="cmp_x", read_mask=m)),
    ("ListCampaigns", lambda m: pb.ListCampaignsRequest(read_mask=m)),
    ("ListCampaignRows", lambda m: pb.ListCampaignRowsRequest(campaign_id="cmp_x", read_mask=m)),
]


@pytest.mark.parametrize(("rpc", "build"), BAD, ids=[b[0] for b in BAD])
@pytest.mark.parametrize("paths", [("id", "no_such_field"), ("id", "call.nope"), ("id", "*")])
async def test_a_path_that_names_no_field_is_refused(
    stub, upstream: Simulator, rpc: str, build: Any, paths: tuple[str, ...]
) -> None:
    before = upstream.request_count
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await getattr(stub, rpc)(build(mask(*paths)), metadata=auth())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(info.value) == ["read_mask.paths[1]"]
    assert upstream.request_count == before


async def test_a_watch_with_a_bad_mask_is_refused(stub, upstream: Simulator) -> None:
    stream = stub.WatchCampaignRows(
        pb.WatchCampaignRowsRequest(campaign_id="cmp_x", read_mask=mask("call.stauts")),
        metadata=auth(),
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stream.read()
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(info.value) == ["read_mask.paths[0]"]


def _changes(messages: list[Any]) -> list[Any]:
    return [m for m in messages if m.WhichOneof("event") == "row_change"]


async def _observed_steps(gateway: Any, upstream: Simulator, cid: str, steps: int) -> None:
    """Simulated time in steps, each seen by a whole poll: under load, free-running time
    could pass a row's content-only changes between two polls (its status changing too)."""
    loop = asyncio.get_running_loop()
    for _ in range(steps):
        before = gateway.watch.stats()["polls"]
        await upstream.advance(30)
        gateway.watch.poke(cid)
        deadline = loop.time() + 10
        while gateway.watch.stats()["polls"] < before + 2:  # one poll began after the step
            assert loop.time() < deadline, "the poller stopped polling"
            await asyncio.sleep(0.01)
    await upstream.advance(24 * 3600)  # whatever is left finishes


async def test_a_masked_watch_sends_modifications_of_masked_fields_only(
    gateway, stub, upstream: Simulator
) -> None:
    cid = (await stub.CreateCampaign(create_request(4), metadata=auth())).id
    masked = stub.WatchCampaignRows(
        pb.WatchCampaignRowsRequest(campaign_id=cid, read_mask=mask("id", "call.status")),
        metadata=auth(),
    )
    full = stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=cid), metadata=auth())
    masked_snap = await until_snapshot_complete(masked)
    await until_snapshot_complete(full)
    assert all(set_fields(m.row_change.row) <= {"id", "call"} for m in _changes(masked_snap))
    seen_masked: list[Any] = []
    seen_full: list[Any] = []
    await _observed_steps(gateway, upstream, cid, steps=40)
    await until_final(masked, seen_masked)
    await until_final(full, seen_full)
    masked.cancel()
    full.cancel()
    mods = [m.row_change for m in _changes(seen_masked) if m.row_change.type == MODIFIED]
    assert mods, "the calls went on: statuses changed"
    for rc in mods:  # each one is a change of the masked status, nothing else
        assert rc.previous_status != rc.row.call.status
        assert set_fields(rc.row) == {"id", "call"} and set_fields(rc.row.call) == {"status"}
    full_mods = [m.row_change for m in _changes(seen_full) if m.row_change.type == MODIFIED]
    status_changes = [rc for rc in full_mods if rc.previous_status != rc.row.call.status]
    assert len(full_mods) > len(status_changes), "the unmasked watch also saw other changes"
    # The masked watch lost none of the status changes.
    key = lambda rc: (rc.row.id, rc.previous_status, rc.row.call.status)  # noqa: E731
    assert sorted(map(key, mods)) == sorted(map(key, status_changes))


async def test_a_masked_watch_token_is_bound_to_its_mask(stub, upstream: Simulator) -> None:
    cid = (await stub.CreateCampaign(create_request(2), metadata=auth())).id
    request = pb.WatchCampaignRowsRequest(campaign_id=cid, read_mask=mask("id", "call.status"))
    stream = stub.WatchCampaignRows(request, metadata=auth())
    token = (await until_snapshot_complete(stream))[-1].resume_token
    stream.cancel()
    for other in (mask("id"), mask()):
        again = stub.WatchCampaignRows(
            pb.WatchCampaignRowsRequest(campaign_id=cid, resume_token=token, read_mask=other),
            metadata=auth(),
        )
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await again.read()
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "resume_token" in violated_fields(info.value)
    same = stub.WatchCampaignRows(
        pb.WatchCampaignRowsRequest(
            campaign_id=cid, resume_token=token, read_mask=mask("call.status", "id")  # any order
        ),
        metadata=auth(),
    )
    first = await same.read()
    same.cancel()
    assert first.resume_token


async def test_campaign_masks_name_campaign_fields(stub, upstream: Simulator) -> None:
    # `call.status` is a Row path, not a Campaign one.
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetCampaign(
            pb.GetCampaignRequest(id="cmp_x", read_mask=mask("call.status")), metadata=auth()
        )
    assert violated_fields(info.value) == ["read_mask.paths[0]"]
    assert campaign_pb2.Campaign.DESCRIPTOR.fields_by_name.get("call") is None


async def test_a_masked_snapshot_resumed_midway_stays_masked(stub) -> None:
    """The rest of an interrupted snapshot comes masked like its start, with nothing
    changed in between as after a change."""
    cid = (await stub.CreateCampaign(create_request(6), metadata=auth())).id
    paths = mask("id", "call.status")
    first = await read_messages(stub.WatchCampaignRows(
        pb.WatchCampaignRowsRequest(campaign_id=cid, read_mask=paths), metadata=auth()), 2)
    resumed = stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(
        campaign_id=cid, resume_token=first[-1].resume_token, read_mask=paths), metadata=auth())
    rest = await until_snapshot_complete(resumed)
    resumed.cancel()
    assert rest[-1].snapshot_complete.row_count == 6
    rows = [m.row_change.row for m in _changes(rest)]
    assert len(rows) == 4
    assert all(set_fields(r) <= {"id", "call"} and set_fields(r.call) <= {"status"}
               for r in rows)
