"""A create whose outcome is unknown is reconciled on the caller's retry (issue 16 A).

The answer of a create can be lost before the upstream committed it (nothing exists),
after (the campaign exists), or the gateway can stop before sending at all. The retry
with the same request_id looks for the campaign upstream by the request's fingerprint:
found once, it is the answer; found several times, the caller chooses; not found once the
grace window has passed, the retry creates it, exactly once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from aiohttp import web
from google.rpc import error_details_pb2

from gateway import convert
from gateway.app import Gateway
from gateway.service import Campaigns, request_hash
from gateway.simulator import Simulator
from gateway.store import Database, sqlite_url
from gateway.upstream import RevoxClient
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ..support import ALICE, auth, create_request, detail, error_info
from ..upstream._fakes import reply, serving

Stub = campaign_service_pb2_grpc.CampaignServiceStub


def _posts(upstream: Simulator) -> int:
    return sum(1 for r in upstream.received if (r.method, r.path) == ("POST", "/campaigns"))


async def _count(stub: Stub) -> int:
    listed = await stub.ListCampaigns(pb.ListCampaignsRequest(skip_cache=True), metadata=auth())
    return len(listed.campaigns)


@asynccontextmanager
async def _gateway(start_gateway: Callable[..., Gateway], **overrides: Any) -> AsyncIterator[
        tuple[Gateway, Stub]]:
    async with start_gateway(**overrides) as gw, grpc.aio.insecure_channel(gw.address) as ch:
        yield gw, Stub(ch)


async def _create_upstream(upstream: Simulator, request: pb.CreateCampaignRequest) -> str:
    """The same campaign, created directly on the simulator's HTTP API (not through the gateway)."""
    async with httpx.AsyncClient(base_url=upstream.base_url) as http:
        answer = await http.post("/campaigns", content=json.dumps(convert.create_body(request)),
                                 headers={"authorization": f"Bearer {ALICE}",
                                          "content-type": "application/json"})
    answer.raise_for_status()
    return str(answer.json()["campaign"]["id"])


async def _lost(stub: Stub, upstream: Simulator, request: pb.CreateCampaignRequest) -> None:
    """The gateway's POST is dropped: the caller gets UNAVAILABLE, the outcome is unknown."""
    upstream.faults.drop_next(1, method="POST", path="/campaigns")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateCampaign(request, metadata=auth())
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


async def _unknown(stub: Stub, request: pb.CreateCampaignRequest) -> tuple[
        grpc.aio.AioRpcError, error_details_pb2.RetryInfo]:
    """The retry's refusal: ABORTED, CREATE_OUTCOME_UNKNOWN, and its RetryInfo."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateCampaign(request, metadata=auth())
    assert info.value.code() == grpc.StatusCode.ABORTED
    assert error_info(info.value).reason == "CREATE_OUTCOME_UNKNOWN"
    retry = detail(info.value, error_details_pb2.RetryInfo)
    assert isinstance(retry, error_details_pb2.RetryInfo)
    return info.value, retry


async def test_lost_before_commit_waits_out_the_grace_window(stub: Stub, upstream: Simulator) -> None:
    request = create_request(2, request_id="lost-before-commit")
    await _lost(stub, upstream, request)
    error, retry = await _unknown(stub, request)
    assert 100 < retry.retry_delay.seconds <= 120  # the default window, 120 s
    assert error.details() == (
        "an earlier create with this request_id may or may not have reached the Revox API "
        "and is not there yet; retry with the same request_id after the grace window "
        f"({retry.retry_delay.ToTimedelta().total_seconds():.0f} s): then the gateway "
        "creates it if it is still not there")
    assert _posts(upstream) == 1


async def test_the_last_second_of_the_grace_window_is_still_waited_out(
    start_gateway: Callable[..., Gateway], upstream: Simulator
) -> None:
    request = create_request(2, request_id="lost-short-grace")
    async with _gateway(start_gateway, reconcile_grace=0.99) as (gw, stub):
        await _lost(stub, upstream, request)
        _, retry = await _unknown(stub, request)
        assert 0 < retry.retry_delay.ToTimedelta().total_seconds() <= 0.99
        assert gw.metrics.creates.outcomes.labels("unknown")._value.get() == 1
        assert _posts(upstream) == 1


async def test_lost_before_commit_creates_once_after_the_grace_window(
    start_gateway: Callable[..., Gateway], upstream: Simulator
) -> None:
    request = create_request(2, request_id="lost-then-created")
    async with _gateway(start_gateway, reconcile_grace=0) as (gw, stub):
        await _lost(stub, upstream, request)
        created = await stub.CreateCampaign(request, metadata=auth())
        assert (await stub.CreateCampaign(request, metadata=auth())).id == created.id
        assert _posts(upstream) == 2 and await _count(stub) == 1
        assert gw.metrics.creates.outcomes.labels("created")._value.get() == 1


async def test_lost_after_commit_answers_the_campaign_without_a_second_post(
    start_gateway: Callable[..., Gateway], upstream: Simulator
) -> None:
    request = create_request(3, request_id="lost-after-commit")
    async with _gateway(start_gateway, reconcile_grace=0) as (gw, stub):
        committed = await _create_upstream(upstream, request)  # what the upstream committed
        await _lost(stub, upstream, request)
        assert (await stub.CreateCampaign(request, metadata=auth())).id == committed
        assert (await stub.CreateCampaign(request, metadata=auth())).id == committed
        assert _posts(upstream) == 2  # the direct one and the dropped one: no third
        assert await _count(stub) == 1
        assert gw.metrics.creates.outcomes.labels("reconciled")._value.get() == 1


async def test_crash_before_sending_creates_once_after_the_grace_window(
    start_gateway: Callable[..., Gateway], upstream: Simulator
) -> None:
    request = create_request(2, request_id="crashed-before-post")
    async with _gateway(start_gateway, reconcile_grace=0) as (gw, stub):
        assert gw.db is not None
        store, tenant = gw.db.idempotency, gw.db.tenants.tenant_of(ALICE)
        # A pending row whose owner stopped before sending anything (as after a kill -9).
        await store.begin(tenant, request.request_id, request_hash(convert.create_body(request)))
        store.abandon(tenant, request.request_id)
        created = await stub.CreateCampaign(request, metadata=auth())
        assert (await stub.CreateCampaign(request, metadata=auth())).id == created.id
        assert _posts(upstream) == 1 and await _count(stub) == 1


async def test_two_matching_campaigns_leave_the_choice_to_the_caller(
    start_gateway: Callable[..., Gateway], upstream: Simulator
) -> None:
    request = create_request(2, request_id="two-matches")
    async with _gateway(start_gateway, reconcile_grace=0) as (gw, stub):
        ids = sorted([await _create_upstream(upstream, request) for _ in range(2)])
        await _lost(stub, upstream, request)
        for _ in range(2):  # stays so: never created, never settled on one of them
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.CreateCampaign(request, metadata=auth())
            assert info.value.code() == grpc.StatusCode.ABORTED
            meta = error_info(info.value)
            assert meta.reason == "CREATE_OUTCOME_UNKNOWN"
            assert meta.metadata["candidate_campaign_ids"] == ",".join(ids)
            assert info.value.details() == (
                "an earlier create with this request_id may have reached the Revox API, and "
                f"2 campaigns match it ({', '.join(ids)}); check them (ErrorInfo metadata "
                "candidate_campaign_ids) and create again with a new request_id only if none "
                "is yours")
        assert _posts(upstream) == 3 and await _count(stub) == 2
        assert gw.metrics.creates.outcomes.labels("unknown")._value.get() == 2


async def test_an_upstream_that_cannot_be_searched_leaves_the_outcome_unknown(
    start_gateway: Callable[..., Gateway], upstream: Simulator
) -> None:
    """The retry must look upstream before it may post again; when the listing fails it
    neither posts nor guesses: unknown, retry in a second."""
    request = create_request(2, request_id="search-fails")
    async with _gateway(start_gateway, reconcile_grace=0) as (gw, stub):
        await _lost(stub, upstream, request)
        upstream.faults.fail_next(1, status=400, method="GET", path="/campaigns")
        error, retry = await _unknown(stub, request)
        assert error.details().startswith(
            "an earlier create with this request_id may or may not have reached the Revox "
            "API, and the gateway could not look for it there now (")
        assert error.details().endswith("); retry later with the same request_id")
        assert retry.retry_delay.ToTimedelta().total_seconds() == 1.0
        assert gw.metrics.creates.outcomes.labels("unknown")._value.get() == 1
        assert _posts(upstream) == 1
        created = await stub.CreateCampaign(request, metadata=auth())  # the listing is back
        assert _posts(upstream) == 2 and await _count(stub) == 1
        assert (await stub.CreateCampaign(request, metadata=auth())).id == created.id


def _variant(request: pb.CreateCampaignRequest, **changes: Any) -> pb.CreateCampaignRequest:
    out = pb.CreateCampaignRequest()
    out.CopyFrom(request)
    out.request_id = ""
    for name, value in changes.items():
        if name == "first":
            out.contacts[0].to_phone_number = str(value)
        elif name == "last":
            out.contacts[-1].to_phone_number = str(value)
        else:
            setattr(out, name, value)
    return out


async def test_only_the_campaign_with_the_requests_fingerprint_is_taken(
    start_gateway: Callable[..., Gateway], upstream: Simulator
) -> None:
    """Among campaigns that differ from the request in one part of the fingerprint each
    (assistant, name, row count, first number, last number), or that another request_id
    already answered, created before and after the one the lost create committed, the
    retry takes exactly that one and posts nothing more."""
    request = create_request(3, request_id="fingerprint")
    bigger = create_request(4, request_id="")
    decoys = [
        _variant(request, assistant_id="asst_other"),
        _variant(request, name="Autumn outreach"),
        _variant(bigger),
        _variant(request, first="+33699999999"),
        _variant(request, last="+33699999998"),
    ]
    async with _gateway(start_gateway, reconcile_grace=0) as (gw, stub):
        other = await stub.CreateCampaign(_variant(request, request_id="other-1"), metadata=auth())
        for decoy in decoys:
            await _create_upstream(upstream, decoy)
        committed = await _create_upstream(upstream, request)
        for decoy in decoys:
            await _create_upstream(upstream, decoy)
        later = await stub.CreateCampaign(_variant(request, request_id="other-2"), metadata=auth())
        await _lost(stub, upstream, request)
        posts = _posts(upstream)
        assert (await stub.CreateCampaign(request, metadata=auth())).id == committed
        assert _posts(upstream) == posts
        assert gw.metrics.creates.outcomes.labels("reconciled")._value.get() == 1
        assert committed not in (other.id, later.id)


async def test_another_request_ids_campaign_is_not_taken(
    start_gateway: Callable[..., Gateway], upstream: Simulator
) -> None:
    async with _gateway(start_gateway, reconcile_grace=0) as (_, stub):
        first = await stub.CreateCampaign(create_request(2, request_id="first"), metadata=auth())
        again = create_request(2, request_id="second")  # the same campaign, on purpose
        await _lost(stub, upstream, again)
        second = await stub.CreateCampaign(again, metadata=auth())
        assert second.id != first.id and _posts(upstream) == 3 and await _count(stub) == 2


async def test_concurrent_retries_after_the_grace_window_create_once(
    start_gateway: Callable[..., Gateway], upstream: Simulator
) -> None:
    request = create_request(2, request_id="racing-retries")
    async with _gateway(start_gateway, reconcile_grace=0) as (_, stub):
        await _lost(stub, upstream, request)
        upstream.faults.add_latency(0.2, method="POST")
        results = await asyncio.gather(*(stub.CreateCampaign(request, metadata=auth()) for _ in range(4)))
        assert len({r.id for r in results}) == 1
        assert _posts(upstream) == 2 and await _count(stub) == 1


async def test_a_row_taken_over_after_the_pending_timeout_is_reconciled_before_posting(
    upstream: Simulator, tmp_path: Path
) -> None:
    # pending_timeout 0: an unknown row is taken over at once (Started(recovered=True)).
    request = create_request(2, request_id="taken-over")
    body = convert.create_body(request)
    committed = await _create_upstream(upstream, request)
    async with Database(sqlite_url(tmp_path / "g.db"), pending_timeout=0) as db, \
            RevoxClient(upstream.base_url) as client:
        campaigns = Campaigns(client, db)
        caller = campaigns.caller(ALICE)
        await db.idempotency.begin(caller.tenant, request.request_id, request_hash(body))
        db.idempotency.abandon(caller.tenant, request.request_id)  # as after a kill -9
        found = await campaigns.create(caller, body, request_id=request.request_id, timeout=5)
        assert found["id"] == committed and _posts(upstream) == 1
        await campaigns.drain()


async def test_lost_after_commit_is_found_on_a_drifted_upstream(
    start_gateway: Callable[..., Gateway], upstream: Simulator
) -> None:
    # SDK 0.5.0's rows answer every row at once: the last number must still be row total-1,
    # not row 0 of an answer that ignored page_size=1 (nor an empty page).
    request = create_request(3, request_id="lost-after-commit-drift")
    async with _gateway(start_gateway, reconcile_grace=0) as (gw, stub):
        committed = await _create_upstream(upstream, request)
        upstream.faults.drift = True
        await _lost(stub, upstream, request)
        assert (await stub.CreateCampaign(request, metadata=auth())).id == committed
        assert _posts(upstream) == 2 and await _count(stub) == 1
        assert gw.metrics.creates.outcomes.labels("reconciled")._value.get() == 1


async def test_lost_create_is_found_on_a_paged_upstream_that_omits_page_and_total(
    start_gateway: Callable[..., Gateway],
) -> None:
    # One row per page_size=1 read, without page/total: not an unpaged answer to index into.
    request = create_request(2, request_id="lost-terse-pages")
    body = convert.create_body(request)
    phones = [c["to_phone_number"] for c in body["contacts"]]
    campaign = {"id": "cmp_terse", "assistant_id": body["assistant_id"], "name": body["name"],
                "status": "running", "row_stats": {"total": 2}}

    async def handle(req: web.Request) -> web.StreamResponse:
        if req.method == "GET" and req.path == "/campaigns":
            return reply(200, {"campaigns": [campaign]}).to_response()
        if req.method == "GET" and req.path == "/campaigns/cmp_terse/rows":
            page = int(req.query["page"])
            return reply(200, {"rows": [{"id": f"r{page}", "phone_number": phones[page]}]}
                         ).to_response()
        if req.method == "GET" and req.path == "/campaigns/cmp_terse":
            return reply(200, {"campaign": campaign}).to_response()
        return reply(500, {"error": "not expected"}).to_response()

    async with serving() as fake:
        fake.script(handle)
        async with _gateway(start_gateway, upstream_url=fake.base_url, reconcile_grace=0,
                            upstream_page_base=0) as (gw, stub):
            assert gw.db is not None
            store, tenant = gw.db.idempotency, gw.db.tenants.tenant_of(ALICE)
            await store.begin(tenant, request.request_id, request_hash(body))
            store.abandon(tenant, request.request_id)  # its owner stopped: outcome unknown
            assert (await stub.CreateCampaign(request, metadata=auth())).id == "cmp_terse"
        assert not [r for r in fake.requests if r.method == "POST"]
