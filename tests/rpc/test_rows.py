"""Rows and export over a real port, against an upstream counting pages from 0 and from 1:
paging by number and by token (AIP-158), the page_size rule, and what a create sends for
the fields a client leaves to their documented defaults (issue 12)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import grpc
import pytest

from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import assistant_pb2, row_pb2
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from ..support import auth, create_request, violated_fields


@pytest.fixture(params=[0, 1], ids=["pages-from-0", "pages-from-1"])
def page_base(request: pytest.FixtureRequest) -> int:
    return int(request.param)


async def _campaign(stub: Any, n: int) -> str:
    created = await stub.CreateCampaign(create_request(n), metadata=auth())
    return str(created.id)


def _phones(response: pb.ListCampaignRowsResponse) -> list[str]:
    return [row.phone_number for row in response.rows]


async def test_pages_by_number_count_from_zero(stub, upstream: Simulator, page_base: int) -> None:
    cid = await _campaign(stub, 7)
    pages = []
    for page in range(4):
        got = await stub.ListCampaignRows(
            pb.ListCampaignRowsRequest(campaign_id=cid, page=page, page_size=3), metadata=auth()
        )
        assert got.page == page and got.total == 7
        pages.append(_phones(got))
    everyone = _phones(await stub.ListCampaignRows(
        pb.ListCampaignRowsRequest(campaign_id=cid), metadata=auth()  # page unset: the first
    ))
    assert len(everyone) == 7
    assert pages == [everyone[0:3], everyone[3:6], everyone[6:7], []]


async def test_pages_by_token_walk_every_row_once(stub, upstream: Simulator, page_base: int) -> None:
    cid = await _campaign(stub, 11)
    seen: list[str] = []
    token, sizes = "", iter([4, 3, 5, 2, 10])  # page_size may change between calls
    while True:
        got = await stub.ListCampaignRows(
            pb.ListCampaignRowsRequest(campaign_id=cid, page_size=next(sizes), page_token=token),
            metadata=auth(),
        )
        seen += _phones(got)
        token = got.next_page_token
        if not token:
            break
    everyone = _phones(await stub.ListCampaignRows(
        pb.ListCampaignRowsRequest(campaign_id=cid, page_size=100), metadata=auth()
    ))
    assert seen == everyone and len(set(seen)) == 11


async def test_a_filtered_listing_pages_by_token(stub, upstream: Simulator, page_base: int) -> None:
    cid = await _campaign(stub, 6)
    first = await stub.ListCampaignRows(
        pb.ListCampaignRowsRequest(campaign_id=cid, query="ada", page_size=4), metadata=auth()
    )
    assert len(first.rows) == 4 and first.total == 6 and first.next_page_token
    rest = await stub.ListCampaignRows(
        pb.ListCampaignRowsRequest(
            campaign_id=cid, query="ada", page_size=4, page_token=first.next_page_token
        ),
        metadata=auth(),
    )
    assert len(rest.rows) == 2 and not rest.next_page_token
    assert not set(_phones(first)) & set(_phones(rest))


@pytest.mark.parametrize("other", [
    {"query": "someone else"},
    {"statuses": [row_pb2.CALL_STATUS_COMPLETED]},
    {"result": pb.ROW_RESULT_FILTER_HUMAN},
    {"campaign_id": "cmp_another"},
])
async def test_a_token_of_another_listing_is_refused(
    stub, upstream: Simulator, other: dict[str, Any]
) -> None:
    cid = await _campaign(stub, 5)
    first = await stub.ListCampaignRows(
        pb.ListCampaignRowsRequest(campaign_id=cid, page_size=2), metadata=auth()
    )
    before = upstream.request_count
    request = pb.ListCampaignRowsRequest(
        campaign_id=cid, page_size=2, page_token=first.next_page_token
    )
    for name, value in other.items():
        if isinstance(value, list):
            getattr(request, name).extend(value)
        else:
            setattr(request, name, value)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ListCampaignRows(request, metadata=auth())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(info.value) == ["page_token"]
    assert upstream.request_count == before


async def test_page_size_above_the_limit_is_capped_on_both_lists(stub, upstream: Simulator) -> None:
    cid = await _campaign(stub, 3)
    rows = await stub.ListCampaignRows(
        pb.ListCampaignRowsRequest(campaign_id=cid, page_size=5000), metadata=auth()
    )
    assert rows.page_size == 1000 and len(rows.rows) == 3
    sent = [r for r in upstream.received if r.path.endswith("/rows")]
    assert "page_size=1000" in sent[-1].query
    campaigns = await stub.ListCampaigns(pb.ListCampaignsRequest(page_size=5000), metadata=auth())
    assert [c.id for c in campaigns.campaigns] == [cid]


async def test_export_holds_every_row(stub, upstream: Simulator, page_base: int) -> None:
    cid = await _campaign(stub, 4)
    chunks = [c async for c in stub.ExportCampaignRows(
        pb.ExportCampaignRowsRequest(campaign_id=cid), metadata=auth()
    )]
    records = list(csv.reader(io.StringIO("".join(c.csv_chunk for c in chunks))))
    assert len(records) == 1 + 4


def _sent_create(upstream: Simulator) -> dict[str, Any]:
    sent = [r for r in upstream.received if (r.method, r.path) == ("POST", "/campaigns")]
    body: dict[str, Any] = json.loads(sent[-1].body)
    return body


async def test_fields_left_unset_go_upstream_as_their_documented_defaults(
    stub, upstream: Simulator
) -> None:
    request = create_request(1)
    request.call_retry_config.Clear()
    request.call_retry_config.calling_windows.add()  # every field of the window unset
    await stub.CreateCampaign(request, metadata=auth())
    config = _sent_create(upstream)["call_retry_config"]
    assert config["max_retry_attempts"] == 3
    assert config["calling_windows"] == [{
        "calling_window_end_time": "18:00",
        "calling_window_start_time": "10:00",
        "retry_delay_seconds": 7200,
    }]


async def test_an_explicit_zero_is_sent_as_zero(stub, upstream: Simulator) -> None:
    request = create_request(1)
    request.call_retry_config.CopyFrom(assistant_pb2.CallRetryConfig(
        calling_windows=[assistant_pb2.CallingWindow(retry_delay_seconds=0)],
        max_retry_attempts=0,
    ))
    await stub.CreateCampaign(request, metadata=auth())
    config = _sent_create(upstream)["call_retry_config"]
    assert config["max_retry_attempts"] == 0
    assert config["calling_windows"][0]["retry_delay_seconds"] == 0


async def test_integral_numbers_of_extra_fields_stay_integers(stub, upstream: Simulator) -> None:
    request = create_request(1)
    request.extra_fields.update({"priority": 3, "ratio": 0.5, "nested": {"n": [1, 2.25]}})
    request.call_retry_config.extra_fields.update({"jitter_seconds": 30})
    await stub.CreateCampaign(request, metadata=auth())
    raw = next(r.body for r in reversed(upstream.received) if r.path == "/campaigns")
    assert b'"priority":3,' in raw or b'"priority":3}' in raw  # the bytes: 3, not 3.0
    body = json.loads(raw)
    assert body["nested"] == {"n": [1, 2.25]} and body["ratio"] == 0.5
    assert body["call_retry_config"]["jitter_seconds"] == 30
    assert isinstance(body["priority"], int) and isinstance(body["nested"]["n"][0], int)


@pytest.mark.parametrize(("where", "field"), [
    ("top", "extra_fields.big"),
    ("retry", "call_retry_config.extra_fields.big"),
    ("window", "call_retry_config.calling_windows[0].extra_fields.big"),
])
async def test_an_integer_a_double_cannot_hold_is_refused(
    stub, upstream: Simulator, where: str, field: str
) -> None:
    request = create_request(1)
    struct = {
        "top": request.extra_fields,
        "retry": request.call_retry_config.extra_fields,
        "window": request.call_retry_config.calling_windows[0].extra_fields,
    }[where]
    struct.update({"big": 2**53})
    before = upstream.request_count
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateCampaign(request, metadata=auth())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(info.value) == [field]
    assert upstream.request_count == before
    struct.update({"big": 2**53 - 1})  # the largest a double holds exactly: accepted
    await stub.CreateCampaign(request, metadata=auth())
    assert str(2**53 - 1).encode() in upstream.received[-1].body
