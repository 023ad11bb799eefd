"""Bad input: INVALID_ARGUMENT naming every offending field, before any upstream call."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2

from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from ..support import auth, create_request, error_info, violated_fields


def _with(**changes: object) -> pb.CreateCampaignRequest:
    request = create_request(2)
    for path, value in changes.items():
        target = request
        *parents, leaf = path.split("__")
        for p in parents:
            target = getattr(target, p)[0] if p in ("contacts", "calling_windows") else getattr(target, p)
        setattr(target, leaf, value)
    return request


CASES = [
    (_with(assistant_id=""), "assistant_id"),
    (_with(name=""), "name"),
    (_with(contacts__to_phone_number="0612345678"), "contacts[0].to_phone_number"),
    (_with(contacts__to_phone_number="+1-555-CALL"), "contacts[0].to_phone_number"),
    (_with(contacts__to_phone_number=""), "contacts[0].to_phone_number"),
    (_with(from_phone_number="12345"), "from_phone_number"),
    (_with(max_concurrent_calls=0), "max_concurrent_calls"),
    (_with(call_retry_config__timezone="Mars/Olympus"), "call_retry_config.timezone"),
    (_with(call_retry_config__calling_windows__calling_window_start_time="25:00"),
     "call_retry_config.calling_windows[0].calling_window_start_time"),
    (_with(call_retry_config__calling_windows__calling_window_end_time="6 in the evening"),
     "call_retry_config.calling_windows[0].calling_window_end_time"),
    (_with(call_retry_config__calling_windows__retry_delay_seconds=-1),
     "call_retry_config.calling_windows[0].retry_delay_seconds"),
    (_with(call_retry_config__max_retry_attempts=-2), "call_retry_config.max_retry_attempts"),
    (_with(request_id="has spaces in it"), "request_id"),
]


@pytest.mark.parametrize(("request_", "field"), CASES, ids=[c[1] for c in CASES])
async def test_create_names_the_bad_field(stub, upstream: Simulator, request_, field: str) -> None:
    before = upstream.request_count
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateCampaign(request_, metadata=auth())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violated_fields(info.value)
    assert error_info(info.value).reason == "INVALID_ARGUMENT"
    assert upstream.request_count == before


async def test_every_bad_field_is_named_at_once(stub) -> None:
    request = create_request(3)
    request.name = ""
    request.contacts[2].to_phone_number = "nope"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateCampaign(request, metadata=auth())
    assert {"name", "contacts[2].to_phone_number"} <= set(violated_fields(info.value))


async def test_no_contacts_and_extra_field_collisions(stub) -> None:
    request = create_request(1)
    del request.contacts[:]
    request.extra_fields.update({"name": "shadow"})
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateCampaign(request, metadata=auth())
    assert {"contacts", "extra_fields.name"} <= set(violated_fields(info.value))


OTHER = [
    ("GetCampaign", pb.GetCampaignRequest(id=""), "id"),
    ("DeleteCampaign", pb.DeleteCampaignRequest(id=""), "id"),
    ("CancelCampaign", pb.CancelCampaignRequest(id="x\n"), "id"),
    ("ListCampaigns", pb.ListCampaignsRequest(page_size=-1), "page_size"),
    ("ListCampaigns", pb.ListCampaignsRequest(page_token="garbage!"), "page_token"),
    ("ListCampaignRows", pb.ListCampaignRowsRequest(campaign_id="c", page=-1), "page"),
    ("ListCampaignRows", pb.ListCampaignRowsRequest(campaign_id="c", page_size=-1), "page_size"),
    ("ListCampaignRows", pb.ListCampaignRowsRequest(campaign_id="c", page=1, page_token="x"), "page"),
    ("ListCampaignRows", pb.ListCampaignRowsRequest(campaign_id="c", page_token="garbage!"), "page_token"),
    ("ListCampaignRows", pb.ListCampaignRowsRequest(campaign_id="c", page=10**9), "page"),
    ("ListCampaignRows", pb.ListCampaignRowsRequest(campaign_id="c", statuses=[0]), "statuses[0]"),
    ("ListCampaignRows", pb.ListCampaignRowsRequest(campaign_id="c", statuses=[99]), "statuses[0]"),
    ("ListCampaignRows", pb.ListCampaignRowsRequest(campaign_id="c", result=42), "result"),
    ("ListCampaignRows", pb.ListCampaignRowsRequest(campaign_id="c", query="q" * 2000), "query"),
    ("ListCampaignRows", pb.ListCampaignRowsRequest(campaign_id=""), "campaign_id"),
]


@pytest.mark.parametrize(("rpc", "request_", "field"), OTHER, ids=[f"{o[0]}-{o[2]}" for o in OTHER])
async def test_other_rpcs_name_the_bad_field(stub, upstream: Simulator, rpc: str, request_, field: str) -> None:
    before = upstream.request_count
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await getattr(stub, rpc)(request_, metadata=auth())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violated_fields(info.value)
    assert upstream.request_count == before


async def test_streams_validate_before_any_upstream_call(stub, upstream: Simulator) -> None:
    before = upstream.request_count
    for call, field in (
        (stub.ExportCampaignRows(pb.ExportCampaignRowsRequest(campaign_id="c", max_chunk_bytes=10), metadata=auth()),
         "max_chunk_bytes"),
        (stub.WatchCampaignRows(
            pb.WatchCampaignRowsRequest(campaign_id="c", heartbeat_interval=duration_pb2.Duration(seconds=0, nanos=1)),
            metadata=auth()), "heartbeat_interval"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for _ in call:
                pass
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in violated_fields(info.value)
    assert upstream.request_count == before


async def test_scheduled_at_out_of_range(stub) -> None:
    request = create_request(1)
    request.scheduled_at.CopyFrom(timestamp_pb2.Timestamp(seconds=-99999999999))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateCampaign(request, metadata=auth())
    assert "scheduled_at" in violated_fields(info.value)


async def test_request_id_length_limit_is_128(stub, upstream: Simulator) -> None:
    before = upstream.request_count
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateCampaign(create_request(1, request_id="r" * 129), metadata=auth())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(info.value) == ["request_id"]
    assert upstream.request_count == before
    created = await stub.CreateCampaign(create_request(1, request_id="r" * 128), metadata=auth())
    assert created.id


@pytest.mark.parametrize(
    ("chunk", "ok"), [(1023, False), (1024, True), (4 * 1024 * 1024, True), (4 * 1024 * 1024 + 1, False)]
)
async def test_export_chunk_size_bounds(stub, upstream: Simulator, chunk: int, ok: bool) -> None:
    cid = (await stub.CreateCampaign(create_request(2), metadata=auth())).id
    call = stub.ExportCampaignRows(pb.ExportCampaignRowsRequest(campaign_id=cid, max_chunk_bytes=chunk), metadata=auth())
    if ok:
        assert [m async for m in call][0].filename
        return
    before = upstream.request_count
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in call:
            pass
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(info.value) == ["max_chunk_bytes"]
    assert "between 1024 and 4194304" in info.value.details()
    assert upstream.request_count == before


async def test_export_names_a_missing_campaign_id(stub, upstream: Simulator) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in stub.ExportCampaignRows(pb.ExportCampaignRowsRequest(), metadata=auth()):
            pass
    assert violated_fields(info.value) == ["campaign_id"]


FIRST, LAST = -62135596800, 253402300799  # 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z


@pytest.mark.parametrize(
    ("seconds", "nanos", "ok"),
    [(FIRST - 1, 0, False), (LAST + 1, 0, False), (0, -1, False), (0, 1_000_000_000, False),
     (FIRST, 0, True), (LAST, 999_999_999, True)],
)
async def test_scheduled_at_bounds_are_rfc3339s(stub, seconds: int, nanos: int, ok: bool) -> None:
    request = create_request(1)
    request.scheduled_at.CopyFrom(timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos))
    try:
        await stub.CreateCampaign(request, metadata=auth())
    except grpc.aio.AioRpcError as exc:
        # A valid time may still be refused upstream (in the past): never as a bad field here.
        fields = violated_fields(exc) if exc.code() == grpc.StatusCode.INVALID_ARGUMENT else []
        assert ("scheduled_at" in fields) is not ok, (exc.code(), exc.details())
    else:
        assert ok
