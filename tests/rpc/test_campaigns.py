"""Every unary rpc and the export stream, end to end over a real port."""

from __future__ import annotations

import csv
import io
import json

import grpc
import pytest

from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_pb2, row_pb2
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from ..support import auth, create_request, error_info


async def test_campaign_lifecycle(stub, upstream: Simulator) -> None:
    created = await stub.CreateCampaign(create_request(5), metadata=auth())
    assert created.id and created.name == "Spring outreach"
    assert created.status in (campaign_pb2.CAMPAIGN_STATUS_RUNNING, campaign_pb2.CAMPAIGN_STATUS_DRAFT)
    assert created.row_stats.total == 5
    assert created.max_concurrent_calls == 2
    assert created.call_retry_config.calling_windows[0].calling_window_start_time == "9am"

    got = await stub.GetCampaign(pb.GetCampaignRequest(id=created.id), metadata=auth())
    assert got.id == created.id and got.assistant.id == "asst_demo"

    listed = await stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=auth())
    assert [c.id for c in listed.campaigns] == [created.id]

    await upstream.advance(600)
    rows = await stub.ListCampaignRows(
        pb.ListCampaignRowsRequest(campaign_id=created.id, page=0, page_size=2), metadata=auth()
    )
    assert (rows.page, rows.page_size, rows.total, len(rows.rows)) == (0, 2, 5, 2)
    assert rows.rows[0].phone_number.startswith("+33")
    everything = await stub.ListCampaignRows(
        pb.ListCampaignRowsRequest(campaign_id=created.id, page_size=50), metadata=auth()
    )
    by_status: dict[int, int] = {}
    for row in everything.rows:
        by_status[row.call.status] = by_status.get(row.call.status, 0) + 1
    some_status = next(iter(by_status))
    filtered = await stub.ListCampaignRows(
        pb.ListCampaignRowsRequest(campaign_id=created.id, statuses=[some_status], page_size=50),
        metadata=auth(),
    )
    assert filtered.total == by_status[some_status]
    assert all(r.call.status == some_status for r in filtered.rows)
    queried = await stub.ListCampaignRows(
        pb.ListCampaignRowsRequest(campaign_id=created.id, query="ada 3"), metadata=auth()
    )
    assert [r.input_data["first_name"] for r in queried.rows] == ["Ada 3"]

    chunks = [c async for c in stub.ExportCampaignRows(pb.ExportCampaignRowsRequest(campaign_id=created.id), metadata=auth())]
    assert chunks[0].filename.endswith(".csv")
    records = list(csv.reader(io.StringIO("".join(c.csv_chunk for c in chunks))))
    assert len(records) == 1 + 5

    cancelled = await stub.CancelCampaign(pb.CancelCampaignRequest(id=created.id), metadata=auth())
    assert cancelled.is_cancelled
    await stub.DeleteCampaign(pb.DeleteCampaignRequest(id=created.id), metadata=auth())
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetCampaign(pb.GetCampaignRequest(id=created.id), metadata=auth())
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(info.value).metadata["upstream_status"] == "404"


async def test_export_beyond_the_message_limit_is_chunked_on_records(stub, upstream: Simulator) -> None:
    request = create_request(1)
    del request.contacts[:]
    note = "x" * 3000 + ',"quoted"\nline'
    for i in range(2000):
        request.contacts.add(to_phone_number=f"+1415555{i:04d}", prompt_variables={"note": note})
    created = await stub.CreateCampaign(request, metadata=auth())
    stream = stub.ExportCampaignRows(
        pb.ExportCampaignRowsRequest(campaign_id=created.id, max_chunk_bytes=64 * 1024), metadata=auth()
    )
    chunks = [c.csv_chunk async for c in stream]
    whole = "".join(chunks)
    assert len(whole.encode()) > 4 * 1024 * 1024
    assert len(chunks) > 60
    for chunk in chunks:  # every chunk parses on its own: no record is split
        assert all(len(r) == len(next(csv.reader(io.StringIO(chunks[0])))) for r in csv.reader(io.StringIO(chunk)))
    assert len(list(csv.reader(io.StringIO(whole)))) == 2001


async def test_list_pages_with_tokens(stub) -> None:
    ids = [(await stub.CreateCampaign(create_request(1, name=f"c{i}"), metadata=auth())).id for i in range(5)]
    seen: list[str] = []
    token = ""
    while True:
        page = await stub.ListCampaigns(pb.ListCampaignsRequest(page_size=2, page_token=token), metadata=auth())
        assert len(page.campaigns) <= 2
        seen += [c.id for c in page.campaigns]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(ids)


async def test_drifted_upstream_reaches_the_client_unchanged(stub, upstream: Simulator) -> None:
    created = await stub.CreateCampaign(create_request(2), metadata=auth())
    await upstream.advance(900)
    upstream.faults.drift = True
    got = await stub.GetCampaign(pb.GetCampaignRequest(id=created.id, skip_cache=True), metadata=auth())
    assert got.id == created.id
    assert len(got.extra_fields) > 0 or len(got.assistant.extra_fields) > 0
    rows = await stub.ListCampaignRows(pb.ListCampaignRowsRequest(campaign_id=created.id), metadata=auth())
    assert len(rows.rows) == 2
    assert not rows.HasField("total")  # the newer API does not page
    literals = {r.call.status_raw for r in rows.rows}
    assert literals
    for r in rows.rows:
        if r.call.status == row_pb2.CALL_STATUS_UNSPECIFIED:
            assert r.call.status_raw


async def test_create_extra_fields_reach_the_upstream_body(stub, upstream: Simulator) -> None:
    request = create_request(1)
    request.extra_fields.update({"priority": "high", "tags": ["spring", "b2b"]})
    await stub.CreateCampaign(request, metadata=auth())
    sent = [r for r in upstream.received if (r.method, r.path) == ("POST", "/campaigns")]
    body = json.loads(sent[-1].body)
    assert body["priority"] == "high" and body["tags"] == ["spring", "b2b"]
    assert body["name"] == request.name  # beside the typed fields, not instead of them
