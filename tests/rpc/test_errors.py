"""Upstream faults become canonical codes with details; nothing hangs or crashes."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import row_pb2

from ..support import auth, create_request, detail, error_info

Code = grpc.StatusCode


async def _created(stub) -> str:
    return (await stub.CreateCampaign(create_request(1), metadata=auth())).id


async def _code_of(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


async def test_unknown_key_is_unauthenticated(stub) -> None:
    error = await _code_of(stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=auth("sk_live_nope")))
    assert error.code() == Code.UNAUTHENTICATED
    info = error_info(error)
    assert (info.domain, info.reason, info.metadata["upstream_status"]) == (
        "revox.campaigns.v1", "UPSTREAM_UNAUTHENTICATED", "401")
    assert "sk_live_nope" not in (error.details() or "")


async def test_no_key_is_unauthenticated_before_any_upstream_call(stub, upstream: Simulator) -> None:
    before = upstream.request_count
    error = await _code_of(stub.ListCampaigns(pb.ListCampaignsRequest()))
    assert error.code() == Code.UNAUTHENTICATED
    assert error_info(error).reason == "MISSING_CREDENTIALS"
    error = await _code_of(stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=(("authorization", "Basic x"),)))
    assert error.code() == Code.UNAUTHENTICATED
    assert upstream.request_count == before


async def test_other_tenants_campaign_is_not_found(stub) -> None:
    cid = await _created(stub)
    await stub.GetCampaign(pb.GetCampaignRequest(id=cid), metadata=auth())  # now cached for alice
    error = await _code_of(stub.GetCampaign(pb.GetCampaignRequest(id=cid), metadata=auth("sk_test_bob")))
    assert error.code() == Code.NOT_FOUND


async def test_rate_limit_is_resource_exhausted_with_retry_info(stub, upstream: Simulator) -> None:
    upstream.faults.rate_limit_next(10, retry_after=30, method="GET")
    error = await _code_of(stub.ListCampaigns(pb.ListCampaignsRequest(skip_cache=True), metadata=auth()))
    assert error.code() == Code.RESOURCE_EXHAUSTED
    retry = detail(error, error_details_pb2.RetryInfo)
    assert isinstance(retry, error_details_pb2.RetryInfo) and retry.retry_delay.seconds == 30
    assert error_info(error).metadata["upstream_status"] == "429"


@pytest.mark.parametrize("fault", ["error", "drop"])
async def test_persistent_upstream_failure_is_unavailable(stub, upstream: Simulator, fault: str) -> None:
    if fault == "error":
        upstream.faults.fail_next(100, status=503)
    else:
        upstream.faults.drop_next(100)
    error = await _code_of(stub.ListCampaigns(pb.ListCampaignsRequest(skip_cache=True), metadata=auth(), timeout=10))
    assert error.code() == Code.UNAVAILABLE


async def test_transient_failures_are_retried_for_reads(stub, upstream: Simulator) -> None:
    cid = await _created(stub)
    upstream.faults.fail_next(2, status=502, method="GET")
    got = await stub.GetCampaign(pb.GetCampaignRequest(id=cid, skip_cache=True), metadata=auth(), timeout=10)
    assert got.id == cid


async def test_create_is_never_blindly_retried(stub, upstream: Simulator) -> None:
    upstream.faults.fail_next(1, status=503, method="POST", path="/campaigns")
    error = await _code_of(stub.CreateCampaign(create_request(1), metadata=auth()))
    assert error.code() == Code.UNAVAILABLE
    listed = await stub.ListCampaigns(pb.ListCampaignsRequest(skip_cache=True), metadata=auth())
    assert len(listed.campaigns) == 0


async def test_malformed_upstream_json_is_internal(stub, upstream: Simulator) -> None:
    upstream.faults.malformed_next(1, method="GET")
    error = await _code_of(stub.ListCampaigns(pb.ListCampaignsRequest(skip_cache=True), metadata=auth()))
    assert error.code() == Code.INTERNAL
    assert error_info(error).reason == "UPSTREAM_MALFORMED_RESPONSE"


async def test_callers_deadline_bounds_the_upstream_call(stub, upstream: Simulator) -> None:
    upstream.faults.add_latency(3.0, method="GET")
    error = await _code_of(stub.ListCampaigns(pb.ListCampaignsRequest(skip_cache=True), metadata=auth(), timeout=0.5))
    assert error.code() == Code.DEADLINE_EXCEEDED


async def test_upstream_validation_error_names_the_field(stub, upstream: Simulator) -> None:
    # not_launched is a CallStatus of newer API versions, valid in the contract, so the
    # gateway forwards a filter on it; the simulator, of the documented version, refuses
    # it. (A number too short for its country, once the example, is now refused by the
    # gateway itself.)
    request = pb.ListCampaignRowsRequest(campaign_id=await _created(stub),
                                         statuses=[row_pb2.CALL_STATUS_NOT_LAUNCHED])
    error = await _code_of(stub.ListCampaignRows(request, metadata=auth()))
    assert error.code() == Code.INVALID_ARGUMENT
    assert error_info(error).metadata["upstream_status"] == "400"
    bad = detail(error, error_details_pb2.BadRequest)
    assert isinstance(bad, error_details_pb2.BadRequest)
    assert bad.field_violations[0].field == "statuses"


async def test_a_conflict_is_already_exists_on_create_and_aborted_elsewhere(stub, upstream: Simulator) -> None:
    cid = await _created(stub)
    upstream.faults.fail_next(1, status=409, method="POST", path="/campaigns")
    error = await _code_of(stub.CreateCampaign(create_request(1), metadata=auth()))
    assert error.code() == Code.ALREADY_EXISTS
    assert (error_info(error).reason, error_info(error).metadata["upstream_status"]) == (
        "UPSTREAM_CONFLICT", "409")
    upstream.faults.fail_next(1, status=409, method="POST", path=f"/campaigns/{cid}/cancel")
    error = await _code_of(stub.CancelCampaign(pb.CancelCampaignRequest(id=cid), metadata=auth()))
    assert error.code() == Code.ABORTED
    assert error_info(error).reason == "UPSTREAM_CONFLICT"


async def test_unavailable_with_retry_after_carries_retry_info(stub, upstream: Simulator) -> None:
    upstream.faults.fail_next(1, status=503, retry_after=7, method="POST", path="/campaigns")
    error = await _code_of(stub.CreateCampaign(create_request(1), metadata=auth()))
    assert error.code() == Code.UNAVAILABLE
    retry = detail(error, error_details_pb2.RetryInfo)
    assert isinstance(retry, error_details_pb2.RetryInfo) and retry.retry_delay.seconds == 7
    assert error_info(error).metadata["retry_after_seconds"] == "7"
    # Without Retry-After there is no RetryInfo to invent.
    upstream.faults.fail_next(1, status=503, method="POST", path="/campaigns")
    error = await _code_of(stub.CreateCampaign(create_request(1), metadata=auth()))
    assert error.code() == Code.UNAVAILABLE
    assert detail(error, error_details_pb2.RetryInfo) is None
