"""``/metrics`` scraped over HTTP after real rpcs through a real port: the gRPC server
families under go-grpc-prometheus's names and labels, the upstream's, the cache's, the
idempotent creates', the watch's; and no label value a caller could identify anyone by."""

from __future__ import annotations

import grpc
import pytest

from gateway.app import Gateway
from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ..support import (
    ALICE,
    auth,
    contacts,
    create_request,
    driving,
    next_change,
    until_snapshot_complete,
)
from ._support import Scrape, scrape

SERVICE = "revox.campaigns.v1.CampaignService"


def _rpc(method: str, kind: str = "unary") -> dict[str, str]:
    return {"grpc_type": kind, "grpc_service": SERVICE, "grpc_method": method}


def _assert_nothing_personal(metrics: Scrape, *secrets: str) -> None:
    """No label value holds a campaign id, an API key, a phone number or a request id."""
    phones = [c["to_phone_number"] for c in contacts(5, name="Ada ")]
    for value in metrics.label_values():
        for secret in (*secrets, *phones, *(p.lstrip("+") for p in phones)):
            assert secret not in value, (secret, value)


async def test_unary_rpcs_move_the_grpc_upstream_cache_and_create_families(
    gateway: Gateway, stub: campaign_service_pb2_grpc.CampaignServiceStub
) -> None:
    request = create_request(3, request_id="metrics-create-1")
    cid = (await stub.CreateCampaign(request, metadata=auth())).id
    assert (await stub.CreateCampaign(request, metadata=auth())).id == cid  # replayed
    for _ in range(2):  # the create wrote the campaign through: both Gets are hits
        await stub.GetCampaign(pb.GetCampaignRequest(id=cid), metadata=auth())
    await stub.GetCampaign(pb.GetCampaignRequest(id=cid, skip_cache=True), metadata=auth())
    await stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=auth())  # invalidated: a miss
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.GetCampaign(pb.GetCampaignRequest(id="cmp_does_not_exist"), metadata=auth())
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await stub.GetCampaign(pb.GetCampaignRequest(id=""), metadata=auth())
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    m = await scrape(gateway)
    assert m.families["grpc_server_handled"] == "counter"
    assert m.families["grpc_server_handling_seconds"] == "histogram"
    create = _rpc("CreateCampaign")
    assert m.value("grpc_server_started_total", **create) == 2
    assert m.value("grpc_server_handled_total", **create, grpc_code="OK") == 2
    assert m.value("grpc_server_msg_received_total", **create) == 2
    assert m.value("grpc_server_msg_sent_total", **create) == 2
    assert m.value("grpc_server_handling_seconds_count", **create) == 2
    get = _rpc("GetCampaign")
    assert m.value("grpc_server_started_total", **get) == 5
    assert m.value("grpc_server_handled_total", **get, grpc_code="OK") == 3
    assert m.value("grpc_server_handled_total", **get, grpc_code="NotFound") == 1
    assert m.value("grpc_server_handled_total", **get, grpc_code="InvalidArgument") == 1
    assert m.value("grpc_server_msg_sent_total", **get) == 3  # none for the failures
    assert {labels["grpc_code"] for labels in m.labelled("grpc_server_handled_total")} \
        == {"OK", "NotFound", "InvalidArgument"}

    upstream = {"method": "GET", "route": "/campaigns/{id}"}
    assert m.value("revox_gateway_upstream_requests_total", method="POST", route="/campaigns",
                   status_class="2xx") == 1  # the replay posted nothing
    # The replay's check that the id still names that campaign, and the skip_cache Get:
    assert m.value("revox_gateway_upstream_requests_total", **upstream, status_class="2xx") == 2
    assert m.value("revox_gateway_upstream_requests_total", **upstream, status_class="4xx") == 1
    assert m.value("revox_gateway_upstream_request_seconds_count", route="/campaigns/{id}") >= 1
    assert m.value("revox_gateway_upstream_last_success_timestamp_seconds") > 0
    assert m.value("revox_gateway_upstream_retries_total") == 0
    assert m.value("revox_gateway_upstream_rate_limited_total") == 0

    assert m.value("revox_gateway_cache_lookups_total", method="GetCampaign", result="hit") == 2
    assert m.value("revox_gateway_cache_lookups_total", method="GetCampaign", result="miss") == 1
    assert m.value("revox_gateway_cache_lookups_total", method="ListCampaigns", result="miss") == 1
    assert m.value("revox_gateway_cache_lookups_total", result="stale") == 0
    assert m.value("revox_gateway_cache_entries") == 1

    assert m.value("revox_gateway_idempotent_creates_total", outcome="created") == 1
    assert m.value("revox_gateway_idempotent_creates_total", outcome="replayed") == 1
    assert m.value("revox_gateway_idempotent_creates_total", outcome="unknown") == 0
    assert "revox_gateway_limit_refusals" in m.families
    assert m.value("grpc_server_handled_total", grpc_service="grpc.health.v1.Health") == 0
    _assert_nothing_personal(m, cid, ALICE, "metrics-create-1", "cmp_does_not_exist")


async def test_a_watch_with_one_change_moves_the_watch_families(
    gateway: Gateway, stub: campaign_service_pb2_grpc.CampaignServiceStub, upstream: Simulator
) -> None:
    cid = (await stub.CreateCampaign(create_request(3), metadata=auth())).id
    stream = stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=cid), metadata=auth())
    snapshot = await until_snapshot_complete(stream)
    async with driving(upstream, finish=False):
        await next_change(stream)

    m = await scrape(gateway)
    watch = _rpc("WatchCampaignRows", "server_stream")
    assert m.value("grpc_server_started_total", **watch) == 1
    assert m.value("grpc_server_msg_received_total", **watch) == 1
    assert m.value("grpc_server_msg_sent_total", **watch) >= len(snapshot) + 1
    assert m.value("grpc_server_handled_total", **watch) == 0  # still open
    assert m.value("revox_gateway_watch_streams") == 1
    assert m.value("revox_gateway_watch_campaigns") == 1
    assert m.value("revox_gateway_watch_pollers") == 1
    assert m.value("revox_gateway_watch_degraded_campaigns") == 0
    assert 0 <= m.value("revox_gateway_watch_staleness_seconds") < 60
    assert m.value("revox_gateway_watch_polls_total") >= 1
    assert m.value("revox_gateway_watch_poll_seconds_count") >= 1
    assert m.value("revox_gateway_watch_changes_committed_total") >= len(snapshot)  # + change
    assert m.value("revox_gateway_watch_changelog_rows") >= len(snapshot)
    assert m.value("revox_gateway_watch_delivery_seconds_count") >= 1
    assert m.value("revox_gateway_watch_delivery_seconds_sum") < 60
    # The poller and the admission read rows and the campaign: templates only.
    assert m.value("revox_gateway_upstream_requests_total", route="/campaigns/{id}/rows") >= 1
    assert {labels["route"] for labels in m.labelled("revox_gateway_upstream_requests_total")} \
        <= {"/campaigns", "/campaigns/{id}", "/campaigns/{id}/rows"}
    _assert_nothing_personal(m, cid, ALICE)
    stream.cancel()


async def test_streams_count_each_message_and_their_code(
    gateway: Gateway, stub: campaign_service_pb2_grpc.CampaignServiceStub
) -> None:
    cid = (await stub.CreateCampaign(create_request(60), metadata=auth())).id
    export = pb.ExportCampaignRowsRequest(campaign_id=cid, max_chunk_bytes=1024)
    chunks = [c async for c in stub.ExportCampaignRows(export, metadata=auth())]
    assert len(chunks) > 2
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.WatchCampaignRows(
            pb.WatchCampaignRowsRequest(campaign_id="cmp_nope"), metadata=auth()).read()
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND

    m = await scrape(gateway)
    exported = _rpc("ExportCampaignRows", "server_stream")
    assert m.value("grpc_server_msg_sent_total", **exported) == len(chunks)
    assert m.value("grpc_server_handled_total", **exported, grpc_code="OK") == 1
    watch = _rpc("WatchCampaignRows", "server_stream")
    assert m.value("grpc_server_handled_total", **watch, grpc_code="NotFound") == 1
    assert m.value("grpc_server_msg_sent_total", **watch) == 0


async def test_each_gateway_counts_only_its_own_rpcs(
    gateway: Gateway, stub: campaign_service_pb2_grpc.CampaignServiceStub, start_gateway
) -> None:
    """Two gateways in one process (tests do it): registries of their own, no default one."""
    await stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=auth())
    async with start_gateway() as other:
        fresh = await scrape(other)
        assert fresh.value("grpc_server_started_total") == 0
    assert (await scrape(gateway)).value("grpc_server_started_total", **_rpc("ListCampaigns")) == 1
