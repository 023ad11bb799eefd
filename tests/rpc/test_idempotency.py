"""CreateCampaign with a request_id creates once: retries, races and restarts."""

from __future__ import annotations

import asyncio
import socket

import grpc
import pytest

from gateway.service import request_hash
from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_pb2 as pb_campaign
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ..support import ALICE, BOB, Bystander, auth, create_request, error_info, violated_fields


async def _count_campaigns(stub) -> int:
    listed = await stub.ListCampaigns(pb.ListCampaignsRequest(skip_cache=True), metadata=auth())
    return len(listed.campaigns)


async def test_duplicate_returns_the_first_result_without_a_second_post(stub, bob: Bystander) -> None:
    request = create_request(3, request_id=Bystander.REQUEST_ID)  # the id Bob uses too
    first = await stub.CreateCampaign(request, metadata=auth())
    await bob.step(first.id)
    second = await stub.CreateCampaign(request, metadata=auth())
    assert second.id == first.id
    assert await _count_campaigns(stub) == 1


async def test_concurrent_duplicates_wait_for_the_first(stub, upstream: Simulator, bob: Bystander) -> None:
    upstream.faults.add_latency(0.3, method="POST")
    request = create_request(2, request_id="race-1")
    results = await asyncio.gather(*(stub.CreateCampaign(request, metadata=auth()) for _ in range(5)))
    assert len({r.id for r in results}) == 1
    upstream.faults.clear()
    await bob.step(results[0].id)
    assert await _count_campaigns(stub) == 1


async def test_same_request_id_with_another_body_is_invalid(stub) -> None:
    await stub.CreateCampaign(create_request(2, request_id="rid-2"), metadata=auth())
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateCampaign(create_request(2, request_id="rid-2", name="other"), metadata=auth())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(info.value) == ["request_id"]
    assert error_info(info.value).reason == "REQUEST_ID_REUSED"


async def test_request_ids_are_scoped_to_the_api_key(stub) -> None:
    request = create_request(1, request_id="shared-id")
    a = await stub.CreateCampaign(request, metadata=auth("sk_test_alice"))
    b = await stub.CreateCampaign(request, metadata=auth("sk_test_bob"))
    assert a.id != b.id


async def test_replay_survives_a_gateway_restart(gateway, start_gateway, upstream: Simulator) -> None:
    request = create_request(2, request_id="restart-1")
    async with grpc.aio.insecure_channel(gateway.address) as ch:
        first = await campaign_service_pb2_grpc.CampaignServiceStub(ch).CreateCampaign(request, metadata=auth())
    await gateway.stop()
    async with start_gateway() as again, grpc.aio.insecure_channel(again.address) as ch:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(ch)
        second = await stub.CreateCampaign(request, metadata=auth())
        assert second.id == first.id
        assert await _count_campaigns(stub) == 1


async def test_a_failed_create_can_be_retried_with_the_same_id(stub, upstream: Simulator) -> None:
    upstream.faults.fail_next(1, status=503, method="POST")
    request = create_request(1, request_id="retry-after-503")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateCampaign(request, metadata=auth())
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    created = await stub.CreateCampaign(request, metadata=auth())
    assert created.id
    assert await _count_campaigns(stub) == 1


async def test_an_unreadable_answer_is_reconciled_not_retried(stub, upstream: Simulator) -> None:
    # The POST reaches the upstream, which creates the campaign, but the answer is unreadable.
    upstream.faults.malformed_next(1, method="POST")
    request = create_request(1, request_id="lost-answer")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateCampaign(request, metadata=auth())
    assert info.value.code() == grpc.StatusCode.INTERNAL
    found = await stub.CreateCampaign(request, metadata=auth())  # found upstream, not re-sent
    assert (await stub.CreateCampaign(request, metadata=auth())).id == found.id
    assert await _count_campaigns(stub) == 1 and _posts(upstream) == 1


async def _outcome_stays_unknown(stub, request: pb.CreateCampaignRequest, first: grpc.StatusCode) -> None:
    """The first create fails with ``first``; its retry is ABORTED, not sent again."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateCampaign(request, metadata=auth())
    assert info.value.code() == first
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateCampaign(request, metadata=auth())
    assert info.value.code() == grpc.StatusCode.ABORTED
    assert error_info(info.value).reason == "CREATE_OUTCOME_UNKNOWN"


def _posts(upstream: Simulator) -> int:
    return sum(1 for r in upstream.received if (r.method, r.path) == ("POST", "/campaigns"))


async def test_a_connection_dropped_after_sending_keeps_the_request_id(stub, upstream: Simulator) -> None:
    # The request left; the upstream may have created the campaign before the drop.
    upstream.faults.drop_next(1, method="POST", path="/campaigns")
    request = create_request(1, request_id="dropped-after-send")
    await _outcome_stays_unknown(stub, request, grpc.StatusCode.UNAVAILABLE)
    assert _posts(upstream) == 1  # the retry was not sent


async def test_a_refused_connection_releases_the_request_id(start_gateway, upstream: Simulator) -> None:
    with socket.socket() as s:  # a port nobody listens on: the connection is refused
        s.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{s.getsockname()[1]}"
    request = create_request(1, request_id="refused-at-connect")
    async with start_gateway(upstream_url=nowhere) as gw, grpc.aio.insecure_channel(gw.address) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await campaign_service_pb2_grpc.CampaignServiceStub(ch).CreateCampaign(request, metadata=auth())
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    async with start_gateway() as gw, grpc.aio.insecure_channel(gw.address) as ch:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(ch)
        created = await stub.CreateCampaign(request, metadata=auth())  # nothing was sent: it creates
        assert created.id and _posts(upstream) == 1
        assert (await stub.CreateCampaign(request, metadata=auth())).id == created.id


async def test_the_same_request_in_another_field_order_is_a_replay(stub) -> None:
    first = create_request(1, request_id="order-free")
    first.contacts[0].prompt_variables.clear()
    first.contacts[0].prompt_variables.update({"a": "1", "b": "2", "é": "ü"})
    again = create_request(1, request_id="order-free")
    again.contacts[0].prompt_variables.clear()
    again.contacts[0].prompt_variables.update({"é": "ü", "b": "2", "a": "1"})
    assert (await stub.CreateCampaign(first, metadata=auth())).id == (
        await stub.CreateCampaign(again, metadata=auth())).id


async def _until_posted(upstream: Simulator) -> None:
    """Until the simulator received the first create (it is then held by a latency fault)."""
    async with asyncio.timeout(5):
        while not _posts(upstream):
            await asyncio.sleep(0.005)


async def _settled(*calls: object) -> list[object]:
    """Each call's result or its AioRpcError (a failure of one does not hide the others)."""
    return list(await asyncio.gather(*calls, return_exceptions=True))  # type: ignore[arg-type]


async def test_a_duplicate_with_another_body_while_the_first_is_in_flight_is_refused(
    stub, upstream: Simulator
) -> None:
    upstream.faults.add_latency(0.3, method="POST")
    first = create_request(2, request_id="race-other-body")
    other = create_request(2, request_id="race-other-body", name="Another name")

    async def later() -> object:
        await _until_posted(upstream)  # the first is in flight: the other waits for it
        return await stub.CreateCampaign(other, metadata=auth())

    created, refused = await _settled(stub.CreateCampaign(first, metadata=auth()), later())
    assert isinstance(created, pb_campaign.Campaign)
    assert isinstance(refused, grpc.aio.AioRpcError)
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(refused).reason == "REQUEST_ID_REUSED"
    assert _posts(upstream) == 1


async def test_a_duplicate_waiting_on_a_lost_answer_learns_the_outcome_is_unknown(
    stub, upstream: Simulator
) -> None:
    upstream.faults.add_latency(0.3, method="POST")
    upstream.faults.drop_next(1, method="POST", path="/campaigns")
    request = create_request(1, request_id="race-lost-answer")

    async def later() -> object:
        await _until_posted(upstream)
        return await stub.CreateCampaign(request, metadata=auth())

    owner, waiter = await _settled(stub.CreateCampaign(request, metadata=auth()), later())
    assert isinstance(owner, grpc.aio.AioRpcError) and owner.code() == grpc.StatusCode.UNAVAILABLE
    assert isinstance(waiter, grpc.aio.AioRpcError) and waiter.code() == grpc.StatusCode.ABORTED
    assert error_info(waiter).reason == "CREATE_OUTCOME_UNKNOWN"
    assert _posts(upstream) == 1


async def test_two_tenants_racing_with_one_request_id_each_create_once(stub, upstream: Simulator) -> None:
    upstream.faults.add_latency(0.3, method="POST")
    request = create_request(1, request_id="race-two-tenants")
    results = await _settled(
        *(stub.CreateCampaign(request, metadata=auth(key)) for key in (ALICE, BOB, ALICE, BOB))
    )
    assert all(isinstance(r, pb_campaign.Campaign) for r in results), results
    alice, bob, alice_again, bob_again = (r.id for r in results)  # type: ignore[union-attr]
    assert alice == alice_again and bob == bob_again and alice != bob
    assert _posts(upstream) == 2


async def test_every_answer_to_a_request_id_is_counted_and_a_refusal_says_why(
    gateway, stub
) -> None:
    outcomes = gateway.metrics.creates.outcomes

    def count(outcome: str) -> float:
        return float(outcomes.labels(outcome)._value.get())

    request = create_request(2, request_id="counted")
    await stub.CreateCampaign(request, metadata=auth())
    await stub.CreateCampaign(request, metadata=auth())
    assert (count("created"), count("replayed")) == (1, 1)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateCampaign(create_request(2, request_id="counted", name="other"),
                                  metadata=auth())
    assert info.value.details() == (
        "request_id was already used with a different request; use a new request_id")
    assert count("mismatch") == 1


@pytest.mark.parametrize("deadline", [0.6, 2.0])
async def test_a_duplicate_that_cannot_wait_for_the_first_is_told_it_is_in_flight(
    stub, upstream: Simulator, deadline: float
) -> None:
    # The duplicate's own deadline ends before the first create answers: it must hear
    # ABORTED CREATE_IN_FLIGHT (retry later) in time, not run into DEADLINE_EXCEEDED.
    upstream.faults.add_latency(deadline + 2.0, method="POST")
    request = create_request(1, request_id=f"in-flight-{deadline}")

    async def later() -> object:
        await _until_posted(upstream)
        return await stub.CreateCampaign(request, metadata=auth(), timeout=deadline)

    created, waiter = await _settled(stub.CreateCampaign(request, metadata=auth()), later())
    assert isinstance(created, pb_campaign.Campaign)
    assert isinstance(waiter, grpc.aio.AioRpcError), waiter
    assert waiter.code() == grpc.StatusCode.ABORTED, waiter
    assert error_info(waiter).reason == "CREATE_IN_FLIGHT"
    assert (await stub.CreateCampaign(request, metadata=auth())).id == created.id
    assert _posts(upstream) == 1


def test_the_hash_kept_with_a_request_id_is_stable_across_releases() -> None:
    # It is stored for 24 h beside each request_id: if a release computed it another way, a
    # client's retry across the upgrade would be refused as "another body" instead of replayed.
    body = {"name": "Résumé — été", "contacts": [{"to_phone_number": "+33612345678"}],
            "assistant_id": "asst_1"}
    assert request_hash(body) == (
        "5761268e5ba843ec21ae427a4a3f6fffd8e7982053ae75614345d3fb379aac24"
    )
    assert request_hash(dict(reversed(body.items()))) == request_hash(body)


async def test_a_replay_whose_check_upstream_is_slow_still_answers_in_time(
    stub, upstream: Simulator
) -> None:
    # A duplicate that waited for the first create then checks its campaign upstream; when
    # that read is slow, the recorded answer is given before the caller's deadline.
    upstream.faults.add_latency(1.0, method="POST")
    request = create_request(1, request_id="replay-slow-check")

    async def later() -> object:
        await _until_posted(upstream)
        upstream.faults.add_latency(4.0, method="GET")  # past the caller's deadline
        return await stub.CreateCampaign(request, metadata=auth(), timeout=3.0)

    created, replayed = await _settled(stub.CreateCampaign(request, metadata=auth()), later())
    assert isinstance(created, pb_campaign.Campaign)
    assert isinstance(replayed, pb_campaign.Campaign), replayed
    assert replayed.id == created.id and _posts(upstream) == 1
