"""WatchCampaignRows delivery guarantees over a real port: the snapshot race, filter
transitions, slow-consumer isolation and clean-up after cancelled clients.

The hub-level tests (tests/watch) prove the same semantics in-process; these prove the
gRPC layer (pre-serialized events, flow control, client cancellation) keeps them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2

from gateway.simulator import Simulator
from gateway.watch._filter import RowFilter
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc, row_pb2

from ..support import (
    ALICE,
    BOB,
    auth,
    create_request,
    driving,
    next_change,
    read_messages,
    until_final,
    until_snapshot_complete,
)

ADDED = pb.ROW_CHANGE_TYPE_ROW_ADDED
MODIFIED = pb.ROW_CHANGE_TYPE_ROW_MODIFIED
REMOVED = pb.ROW_CHANGE_TYPE_ROW_REMOVED
Event = tuple[int, str, int]
_SMALL_WINDOW = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 1024)]


def _request(cid: str, **fields: Any) -> pb.WatchCampaignRowsRequest:
    return pb.WatchCampaignRowsRequest(
        campaign_id=cid, heartbeat_interval=duration_pb2.Duration(seconds=1), **fields
    )


def _live(messages: list[pb.WatchCampaignRowsResponse]) -> list[Event]:
    return [
        (m.revision, m.row_change.row.id, m.row_change.type)
        for m in messages
        if m.WhichOneof("event") == "row_change" and not m.row_change.in_snapshot
    ]


async def test_subscribing_while_changes_commit_is_gap_free(gateway, stub, upstream: Simulator) -> None:
    cid = (await stub.CreateCampaign(create_request(8), metadata=auth())).id
    got: list[pb.WatchCampaignRowsResponse] = []
    async with driving(upstream):
        await asyncio.sleep(0.1)  # changes are being committed when the client subscribes
        stream = stub.WatchCampaignRows(_request(cid), metadata=auth())
        await until_final(stream, got)
    stream.cancel()
    marker = next(i for i, m in enumerate(got) if m.WhichOneof("event") == "snapshot_complete")
    snap_rev = got[marker].revision
    state = {m.row_change.row.id: m.row_change.row for m in got[:marker]
             if m.WhichOneof("event") == "row_change"}
    live = [m for m in got[marker:] if m.WhichOneof("event") == "row_change"]
    events = _live(got)
    assert live and all(m.revision > snap_rev for m in live)  # live starts at S + 1
    assert len(events) == len(set(events))  # no duplicate
    assert [e[0] for e in events] == sorted(e[0] for e in events)
    for m in live:
        state[m.row_change.row.id] = m.row_change.row
    # No gap: the snapshot plus every event equals the final log, row for row.
    _, rows, _ = await gateway.watch.read_snapshot(cid, RowFilter.from_request(_request(cid)))
    assert {rid: r.call.status_raw for rid, r in state.items()} == {
        str(r["id"]): r["call"]["status"] for r in rows
    }


async def test_filter_transitions_add_and_remove_rows(stub, upstream: Simulator) -> None:
    """Rows entering and leaving a status filter. The first moves are scripted and each
    awaited (driven by simulated time alone, a row could start and end its call between
    two polls of a loaded machine and never be seen calling: seen failing so under
    load); then the campaign runs to its end."""
    cid = (await stub.CreateCampaign(create_request(6), metadata=auth())).id
    calling = row_pb2.CALL_STATUS_CALLING
    stream = stub.WatchCampaignRows(_request(cid, statuses=[calling]), metadata=auth())
    got: list[pb.WatchCampaignRowsResponse] = await until_snapshot_complete(stream)
    upstream.set_row_status(cid, 0, "calling")
    got += await read_messages(stream, 1, hang_up=False)  # row 0 enters
    upstream.set_row_status(cid, 0, "completed")
    upstream.set_row_status(cid, 1, "calling")
    got += await read_messages(stream, 2, hang_up=False)  # row 0 leaves, row 1 enters
    upstream.set_row_status(cid, 1, "completed")  # scripted rows are not the engine's to end
    got += await read_messages(stream, 1, hang_up=False)  # row 1 leaves
    async with driving(upstream):
        await until_final(stream, got)
    stream.cancel()
    inside: set[str] = {m.row_change.row.id for m in got
                        if m.WhichOneof("event") == "row_change" and m.row_change.in_snapshot}
    entered = left = 0
    for m in got:
        if m.WhichOneof("event") != "row_change" or m.row_change.in_snapshot:
            continue
        rc, rid = m.row_change, m.row_change.row.id
        if rc.type == ADDED:
            assert rid not in inside and rc.row.call.status == calling
            inside.add(rid)
            entered += 1
        elif rc.type == MODIFIED:
            assert rid in inside and rc.row.call.status == calling
        else:
            assert rc.type == REMOVED and rid in inside
            assert rc.removal_reason == pb.ROW_REMOVAL_REASON_LEFT_FILTER
            assert rc.row.call.status != calling
            inside.discard(rid)
            left += 1
    assert entered and left
    assert inside == set()  # the campaign is final: nothing is calling any more


async def test_a_client_that_stops_reading_slows_nobody(start_gateway, upstream: Simulator) -> None:
    async with (
        start_gateway(subscriber_queue=1) as gw,
        # A small receive window, so the stalled client's stream blocks the gateway's
        # writes soon and its one-batch mailbox overflows (catch-up from the log).
        grpc.aio.insecure_channel(gw.address, options=_SMALL_WINDOW) as slow_ch,
        grpc.aio.insecure_channel(gw.address) as fast_ch,
    ):
        slow_stub = campaign_service_pb2_grpc.CampaignServiceStub(slow_ch)
        fast_stub = campaign_service_pb2_grpc.CampaignServiceStub(fast_ch)
        cid = (await fast_stub.CreateCampaign(create_request(40), metadata=auth())).id
        slow = slow_stub.WatchCampaignRows(_request(cid), metadata=auth())
        slow_got: list[pb.WatchCampaignRowsResponse] = []
        async with asyncio.timeout(10):  # its snapshot, then it stops reading (live phase)
            while not slow_got or slow_got[-1].WhichOneof("event") != "snapshot_complete":
                slow_got.append(await slow.read())
        fast = fast_stub.WatchCampaignRows(_request(cid), metadata=auth())
        fast_got: list[pb.WatchCampaignRowsResponse] = []
        async with driving(upstream):
            await until_final(fast, fast_got)  # not held back by the stalled client
        await until_final(slow, slow_got)  # which then catches up, losing nothing
        slow.cancel()
        fast.cancel()
    assert _live(fast_got)
    assert _live(slow_got) == _live(fast_got)


def _gateway_tasks() -> list[asyncio.Task[Any]]:
    """The tasks of this process but the simulator's: aiohttp keeps one per kept-alive
    connection, and how many the gateway's pool holds open varies from run to run."""
    return [t for t in asyncio.all_tasks()
            if getattr(t.get_coro(), "__qualname__", "") != "RequestHandler.start"]


async def test_cancelled_clients_release_everything(gateway, stub, upstream: Simulator) -> None:
    cid = (await stub.CreateCampaign(create_request(3), metadata=auth())).id
    loop = asyncio.get_running_loop()
    baseline: int | None = None  # tasks once warm (pooled upstream connections are kept)
    for _ in range(4):
        streams = [stub.WatchCampaignRows(_request(cid), metadata=auth()) for _ in range(30)]
        for s in streams:
            async with asyncio.timeout(10):
                while (await s.read()).WhichOneof("event") != "snapshot_complete":
                    pass
        assert gateway.watch.stats()["subscribers"] == 30
        for s in streams:
            s.cancel()
        deadline = loop.time() + 10
        while True:
            stats = gateway.watch.stats()
            released = stats["subscribers"] == 0 and stats["pollers"] == 0
            if released and (baseline is None or len(_gateway_tasks()) <= baseline):
                break
            assert loop.time() < deadline, f"not released: {stats}, {_gateway_tasks()}"
            await asyncio.sleep(0.02)
        if baseline is None:
            baseline = len(_gateway_tasks())


async def test_a_row_deleted_outside_the_filter_makes_no_event(stub, upstream: Simulator) -> None:
    cid = (await stub.CreateCampaign(create_request(4), metadata=auth())).id
    everything = stub.WatchCampaignRows(_request(cid), metadata=auth())
    calling_only = stub.WatchCampaignRows(_request(cid, statuses=[row_pb2.CALL_STATUS_CALLING]), metadata=auth())
    rows = [m.row_change.row for m in (await until_snapshot_complete(everything))[:-1]]
    inside = {m.row_change.row.id for m in (await until_snapshot_complete(calling_only))[:-1]}
    last = rows[-1]
    assert last.call.status_raw != "calling" and last.id not in inside
    upstream.remove_row(cid, len(rows) - 1)  # a row the filtered watcher never had
    gone = await next_change(everything)
    assert (gone.row_change.type, gone.row_change.row.id) == (REMOVED, last.id)
    assert gone.row_change.removal_reason == pb.ROW_REMOVAL_REASON_DELETED
    upstream.set_row_status(cid, 2, "calling")  # then a change the filtered watcher sees
    marker = await next_change(everything)
    first = await next_change(calling_only)  # nothing about the deleted row before it
    assert (first.revision, first.row_change.type, first.row_change.row.id) == (
        marker.revision, ADDED, rows[2].id)
    everything.cancel()
    calling_only.cancel()


async def test_a_second_tenant_joining_a_watched_campaign_is_checked_upstream(
    stub, upstream: Simulator
) -> None:
    cid = (await stub.CreateCampaign(create_request(3), metadata=auth(ALICE))).id
    alice = stub.WatchCampaignRows(_request(cid), metadata=auth(ALICE))
    await until_snapshot_complete(alice)  # the campaign is now polled and its rows are in the log
    bob = stub.WatchCampaignRows(_request(cid), metadata=auth(BOB))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async with asyncio.timeout(20):
            message = await bob.read()
            raise AssertionError(f"bob received {message}")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    alice.cancel()


async def test_a_query_filter_matches_phone_or_prompt_variables_ignoring_case(stub, upstream: Simulator) -> None:
    request = create_request(4)
    request.contacts[1].prompt_variables["city"] = "Lyon"
    cid = (await stub.CreateCampaign(request, metadata=auth())).id
    by_text = stub.WatchCampaignRows(_request(cid, query="LYON"), metadata=auth())
    by_phone = stub.WatchCampaignRows(_request(cid, query=request.contacts[2].to_phone_number[-6:]), metadata=auth())
    nothing = stub.WatchCampaignRows(_request(cid, query="marseille"), metadata=auth())
    phones = {c.to_phone_number for c in request.contacts}
    got = {}
    for name, stream in (("text", by_text), ("phone", by_phone), ("nothing", nothing)):
        got[name] = [m.row_change.row.phone_number for m in (await until_snapshot_complete(stream))[:-1]]
        stream.cancel()
    assert got == {"text": [request.contacts[1].to_phone_number],
                   "phone": [request.contacts[2].to_phone_number], "nothing": []}
    assert set(got["text"] + got["phone"]) <= phones


RESULTS = {
    pb.ROW_RESULT_FILTER_HUMAN: "human",
    pb.ROW_RESULT_FILTER_VOICEMAIL: "voicemail",
    pb.ROW_RESULT_FILTER_NONE: None,
}


async def test_result_filters_select_rows_by_their_last_call_result(stub, upstream: Simulator) -> None:
    cid = (await stub.CreateCampaign(create_request(12), metadata=auth())).id
    everything = stub.WatchCampaignRows(_request(cid), metadata=auth())
    async with driving(upstream):
        await until_final(everything, [])  # the log now holds every row's final state
    everything.cancel()
    full = stub.WatchCampaignRows(_request(cid), metadata=auth())
    rows = [m.row_change.row for m in (await until_snapshot_complete(full))[:-1]]
    full.cancel()
    last = {r.id: (r.call.last_call_attempt.result_raw or None) for r in rows}
    seen_results = set(last.values())
    assert len(seen_results) >= 2, seen_results  # the schedule gave the filters something to tell apart
    for flt, literal in RESULTS.items():
        stream = stub.WatchCampaignRows(_request(cid, result=flt), metadata=auth())
        picked = {m.row_change.row.id for m in (await until_snapshot_complete(stream))[:-1]}
        stream.cancel()
        assert picked == {rid for rid, res in last.items() if res == literal}, (flt, last)
    stream = stub.WatchCampaignRows(_request(cid, result=pb.ROW_RESULT_FILTER_ALL), metadata=auth())
    assert {m.row_change.row.id for m in (await until_snapshot_complete(stream))[:-1]} == set(last)
    stream.cancel()
