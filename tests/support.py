"""What every test directory builds with: the keys, contacts and requests, the error
details a test reads, a second tenant that interleaves with a test, and readers of a
WatchCampaignRows stream over a real port. Fixtures live in the conftest files; they
and the tests import their builders from here, so there is one of each.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from gateway.simulator import Simulator, SimulatorConfig
from generated.revox.campaigns.v1 import assistant_pb2, campaign_service_pb2_grpc
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

__all__ = [
    "ALICE",
    "BOB",
    "Bystander",
    "auth",
    "contacts",
    "create_request",
    "detail",
    "driving",
    "error_info",
    "next_change",
    "read_messages",
    "rich_status",
    "simulator",
    "until_final",
    "until_snapshot_complete",
    "violated_fields",
]

ALICE = "sk_test_alice"
BOB = "sk_test_bob"
Message = pb.WatchCampaignRowsResponse


def auth(key: str = ALICE) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


# -- builders -------------------------------------------------------------------------------


def simulator(seed: int = 7, **config: Any) -> Simulator:
    """The Revox simulator every test talks to: a real HTTP server on a free port, on a
    manual clock (nothing moves until a test advances it); use as ``async with``."""
    return Simulator(SimulatorConfig(seed=seed, clock="manual", **config))


def contacts(n: int, prefix: str = "+3361234", name: str = "Name", **extra: str) -> list[dict[str, Any]]:
    """n Paris mobile numbers with prompt variables, as the REST API takes them."""
    return [
        {"to_phone_number": f"{prefix}{i:04d}", "prompt_variables": {"first_name": f"{name}{i}", **extra}}
        for i in range(n)
    ]


def create_request(n: int = 3, **fields: object) -> pb.CreateCampaignRequest:
    """A valid CreateCampaignRequest of ``n`` contacts (``contacts``' numbers); ``fields``
    override its fields."""
    request = pb.CreateCampaignRequest(
        assistant_id="asst_demo",
        name="Spring outreach",
        contacts=[
            pb.Contact(to_phone_number=c["to_phone_number"], prompt_variables=c["prompt_variables"])
            for c in contacts(n, name="Ada ")
        ],
        call_retry_config=assistant_pb2.CallRetryConfig(
            calling_windows=[
                assistant_pb2.CallingWindow(
                    calling_window_start_time="9am", calling_window_end_time="18:00", retry_delay_seconds=600
                )
            ],
            max_retry_attempts=2,
            timezone="Europe/Paris",
        ),
        max_concurrent_calls=2,
    )
    for name, value in fields.items():
        setattr(request, name, value)
    return request


# -- error details --------------------------------------------------------------------------


def rich_status(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]  # an aio error is a Call too
    assert status is not None, "the error carries no google.rpc.Status"
    return status


def detail(error: grpc.aio.AioRpcError, kind: type) -> object | None:
    for any_ in rich_status(error).details:
        if any_.Is(kind.DESCRIPTOR):
            message = kind()
            any_.Unpack(message)
            return message
    return None


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    info = detail(error, error_details_pb2.ErrorInfo)
    assert isinstance(info, error_details_pb2.ErrorInfo)
    return info


def violated_fields(error: grpc.aio.AioRpcError) -> list[str]:
    bad = detail(error, error_details_pb2.BadRequest)
    assert isinstance(bad, error_details_pb2.BadRequest), "no BadRequest detail"
    return [v.field for v in bad.field_violations]


# -- WatchCampaignRows over a port ------------------------------------------------------------


async def read_messages(stream: Any, n: int, *, hang_up: bool = True, timeout: float = 20) -> list[Message]:
    """The next ``n`` messages that are not heartbeats (then the client hangs up)."""
    got: list[Message] = []
    async with asyncio.timeout(timeout):
        while len(got) < n:
            m = await stream.read()
            assert m is not grpc.aio.EOF, "the stream ended"
            if m.WhichOneof("event") != "heartbeat":
                got.append(m)
    if hang_up:
        stream.cancel()
    return got


async def until_snapshot_complete(stream: Any, *, timeout: float = 20) -> list[Message]:
    """Messages up to and including ``snapshot_complete`` (heartbeats left out)."""
    got: list[Message] = []
    async with asyncio.timeout(timeout):
        while not got or got[-1].WhichOneof("event") != "snapshot_complete":
            m = await stream.read()
            assert m is not grpc.aio.EOF, "the stream ended inside the snapshot"
            if m.WhichOneof("event") != "heartbeat":
                got.append(m)
    return got


async def next_change(stream: Any, *, timeout: float = 20) -> Message:
    async with asyncio.timeout(timeout):
        while True:
            m = await stream.read()
            assert m is not grpc.aio.EOF, "the stream ended"
            if m.WhichOneof("event") == "row_change":
                return m


async def until_final(stream: Any, into: list[Message], *, timeout: float = 30) -> None:
    """Every message (kept in ``into``) until the heartbeat saying the campaign is final."""
    async with asyncio.timeout(timeout):
        while True:
            m = await stream.read()
            assert m is not grpc.aio.EOF, "the stream ended before the campaign was final"
            into.append(m)
            if m.WhichOneof("event") == "heartbeat" and m.heartbeat.campaign_final:
                return


@contextlib.asynccontextmanager
async def driving(upstream: Simulator, *, step: float = 30, finish: bool = True) -> AsyncIterator[None]:
    """Simulated time runs (``step`` s at a time) while the body reads streams; with
    ``finish`` whatever is left then finishes, so the campaign goes final."""
    stop = asyncio.Event()

    async def drive() -> None:
        while not stop.is_set():
            await upstream.advance(step)
            await asyncio.sleep(0.01)

    task = asyncio.create_task(drive())
    try:
        yield
    finally:
        stop.set()
        await task
    if finish:
        await upstream.advance(24 * 3600)


# -- a second tenant ------------------------------------------------------------------------


class Bystander:
    """Bob: a second tenant acting on the same gateway between the steps of a test
    run as Alice, so that every cache, list, watch and idempotency test also checks
    that two tenants interleaved never see each other's data.

    ``await bob.step(alice_ids)`` reads through every per-tenant path (his cached
    list, his campaign, a watch of it, a create with the request_id Alice uses) and
    asserts that he sees exactly his own campaigns and that each of Alice's
    campaigns is NOT_FOUND for him, also on a campaign Alice is watching.
    """

    REQUEST_ID = "shared-request-id"  # tests use it as Alice too: ids are per tenant

    def __init__(self, stub: campaign_service_pb2_grpc.CampaignServiceStub) -> None:
        self.stub = stub
        self.campaigns: set[str] = set()

    def _request(self) -> pb.CreateCampaignRequest:
        return pb.CreateCampaignRequest(
            assistant_id="asst_bob", name="Bob's campaign", request_id=self.REQUEST_ID,
            contacts=[pb.Contact(to_phone_number="+447700900123")],
        )

    async def join(self) -> Bystander:
        self.campaigns.add((await self.stub.CreateCampaign(self._request(), metadata=auth(BOB))).id)
        return self

    async def step(self, *alice_ids: str) -> None:
        (mine,) = self.campaigns
        assert (await self.stub.CreateCampaign(self._request(), metadata=auth(BOB))).id == mine
        listed = await self.stub.ListCampaigns(pb.ListCampaignsRequest(), metadata=auth(BOB))
        assert {c.id for c in listed.campaigns} == self.campaigns
        assert (await self.stub.GetCampaign(pb.GetCampaignRequest(id=mine), metadata=auth(BOB))).id == mine
        watch = self.stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=mine), metadata=auth(BOB))
        snapshot = await until_snapshot_complete(watch)
        watch.cancel()
        assert [m.row_change.row.phone_number for m in snapshot[:-1]] == ["+447700900123"]
        for cid in alice_ids:
            for call in (
                self.stub.GetCampaign(pb.GetCampaignRequest(id=cid), metadata=auth(BOB)),
                self.stub.WatchCampaignRows(pb.WatchCampaignRowsRequest(campaign_id=cid), metadata=auth(BOB)).read(),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await call
                assert info.value.code() == grpc.StatusCode.NOT_FOUND, cid
