"""What a refused request tells its caller, word for word, and the edges of each range.

The BadRequest a client receives is part of the contract: an engineer at a terminal reads
the description to fix the request. Each case goes over a real port and must cost no
upstream call."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2

from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from ..support import auth, create_request, rich_status

CASES: list[tuple[str, Any, list[tuple[str, str]]]] = [
    ("ListCampaigns", pb.ListCampaignsRequest(page_size=-1), [("page_size", "must not be negative")]),
    ("ListCampaignRows", pb.ListCampaignRowsRequest(campaign_id="c", page=-1),
     [("page", "must not be negative (pages count from 0)")]),
    ("ListCampaignRows", pb.ListCampaignRowsRequest(campaign_id="c", page_size=-1),
     [("page_size", "must not be negative (0 = 50; above 1000 means 1000)")]),
    ("ListCampaignRows", pb.ListCampaignRowsRequest(campaign_id="c", statuses=[0]),
     [("statuses[0]", "must be a known CallStatus other than CALL_STATUS_UNSPECIFIED")]),
    ("ListCampaignRows", pb.ListCampaignRowsRequest(campaign_id="c", result=42),
     [("result", "must be a known RowResultFilter")]),
    ("ListCampaignRows", pb.ListCampaignRowsRequest(campaign_id="c", query="q" * 1001),
     [("query", "at most 1000 characters")]),
    ("ExportCampaignRows", pb.ExportCampaignRowsRequest(campaign_id="c", max_chunk_bytes=1023),
     [("max_chunk_bytes", "must be between 1024 and 4194304 (0 = 1 MiB)")]),
    ("WatchCampaignRows", pb.WatchCampaignRowsRequest(), [("campaign_id", "required")]),
    ("WatchCampaignRows",
     pb.WatchCampaignRowsRequest(campaign_id="c", heartbeat_interval=duration_pb2.Duration(seconds=301)),
     [("heartbeat_interval", "must be between 1s and 300s")]),
    ("WatchCampaignRows",
     pb.WatchCampaignRowsRequest(campaign_id="c", heartbeat_interval=duration_pb2.Duration(nanos=999_000_000)),
     [("heartbeat_interval", "must be between 1s and 300s")]),
    ("WatchCampaignRows", pb.WatchCampaignRowsRequest(campaign_id="c", statuses=[99]),
     [("statuses[0]", "must be a known CallStatus other than CALL_STATUS_UNSPECIFIED")]),
    ("WatchCampaignRows", pb.WatchCampaignRowsRequest(campaign_id="c", result=42),
     [("result", "must be a known RowResultFilter")]),
]


async def _refusal(stub: Any, rpc: str, request: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        call = getattr(stub, rpc)(request, metadata=auth())
        if rpc in ("ExportCampaignRows", "WatchCampaignRows"):
            await call.read()
        else:
            await call
    return info.value


@pytest.mark.parametrize(("rpc", "request_", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
async def test_each_refusal_names_the_field_and_says_why(
    stub, upstream: Simulator, rpc: str, request_: Any, expected: list[tuple[str, str]]
) -> None:
    before = upstream.request_count
    error = await _refusal(stub, rpc, request_)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = []
    for detail in rich_status(error).details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations += [(v.field, v.description) for v in bad.field_violations]
    assert violations == expected
    assert upstream.request_count == before


@pytest.mark.parametrize("seconds", [1, 300])
async def test_heartbeat_interval_edges_are_accepted(stub, upstream: Simulator, seconds: int) -> None:
    cid = (await stub.CreateCampaign(create_request(1), metadata=auth())).id
    stream = stub.WatchCampaignRows(
        pb.WatchCampaignRowsRequest(
            campaign_id=cid, heartbeat_interval=duration_pb2.Duration(seconds=seconds),
            send_initial_snapshot=False,
        ),
        metadata=auth(),
    )
    first = await stream.read()
    stream.cancel()
    assert first.resume_token


async def test_query_and_chunk_edges_are_accepted(stub, upstream: Simulator) -> None:
    cid = (await stub.CreateCampaign(create_request(1), metadata=auth())).id
    rows = await stub.ListCampaignRows(
        pb.ListCampaignRowsRequest(campaign_id=cid, query="q" * 1000), metadata=auth()
    )
    assert rows.total == 0
    chunks = stub.ExportCampaignRows(
        pb.ExportCampaignRowsRequest(campaign_id=cid, max_chunk_bytes=4 * 1024 * 1024), metadata=auth()
    )
    assert (await chunks.read()).filename
    chunks.cancel()
