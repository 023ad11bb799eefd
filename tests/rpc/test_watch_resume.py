"""Resuming WatchCampaignRows from any token, over a real port.

Every message's token must resume exactly after that message: inside a
snapshot, inside the catch-up of a resumed snapshot, and inside a revision
that changed several rows. Rows are moved by script (``set_row_status``), so
each step commits a known revision.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2

from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from ..support import Bystander, auth, create_request, read_messages, until_snapshot_complete

ADDED = pb.ROW_CHANGE_TYPE_ROW_ADDED
MODIFIED = pb.ROW_CHANGE_TYPE_ROW_MODIFIED
Message = pb.WatchCampaignRowsResponse


def _request(cid: str, token: str = "") -> pb.WatchCampaignRowsRequest:
    return pb.WatchCampaignRowsRequest(
        campaign_id=cid, resume_token=token, heartbeat_interval=duration_pb2.Duration(seconds=1)
    )


async def _row_ids(stub: Any, cid: str) -> list[str]:
    """Every row id in snapshot order (by id), from a throwaway watch."""
    stream = stub.WatchCampaignRows(_request(cid), metadata=auth())
    snap = await until_snapshot_complete(stream)
    stream.cancel()
    return [m.row_change.row.id for m in snap[:-1]]


async def _commit(upstream: Simulator, stub: Any, cid: str, moves: dict[int, str]) -> int:
    """Move rows upstream; wait until the gateway committed them; their revision."""
    witness = stub.WatchCampaignRows(_request(cid), metadata=auth())
    await until_snapshot_complete(witness)
    for index, status in moves.items():
        upstream.set_row_status(cid, index, status)
    changes = await read_messages(witness, len(moves))
    assert {m.row_change.type for m in changes} == {MODIFIED}
    assert len({m.revision for m in changes}) == 1, "the moves were committed apart"
    return changes[0].revision


async def test_resuming_inside_a_resumed_snapshot_delivers_the_rest(
    stub, upstream: Simulator, bob: Bystander
) -> None:
    # The reproduction of issue 9, step by step.
    cid = (await stub.CreateCampaign(create_request(40), metadata=auth())).id
    ids = await _row_ids(stub, cid)
    index_of = {rid: int(rid[-6:], 16) for rid in ids}
    # 1. A fresh watch; the client hangs up inside the snapshot, after 5 rows.
    first = await read_messages(stub.WatchCampaignRows(_request(cid), metadata=auth()), 5)
    assert [m.row_change.in_snapshot for m in first] == [True] * 5
    known = [m.row_change.row.id for m in first]
    assert known == ids[:5]
    await bob.step(cid)
    # 2. One row the client knows and one it has not received yet change upstream.
    seen, unseen = ids[0], ids[5]
    revision = await _commit(
        upstream, stub, cid, {index_of[seen]: "scheduled", index_of[unseen]: "completed"}
    )
    assert revision > first[-1].revision
    # 3. Resume, and hang up after the catch-up of the known row.
    second = await read_messages(stub.WatchCampaignRows(_request(cid, first[-1].resume_token), metadata=auth()), 1)
    assert second[0].row_change.type == MODIFIED and second[0].row_change.row.id == seen
    assert second[0].revision == revision
    # 4. Resume again: the 35 other rows, the marker, then nothing stray.
    third_stream = stub.WatchCampaignRows(_request(cid, second[0].resume_token), metadata=auth())
    third = await until_snapshot_complete(third_stream)
    third_stream.cancel()
    rest = third[:-1]
    assert [m.row_change.row.id for m in rest] == ids[5:]
    assert all(m.row_change.type == ADDED and m.row_change.in_snapshot for m in rest)
    assert {m.revision for m in third} == {revision}
    assert rest[0].row_change.row.call.status_raw == "completed"  # the unseen row, as it is now
    assert third[-1].snapshot_complete.row_count == 40  # the whole view the client now holds


async def test_every_token_of_a_multi_row_revision_resumes_right_after_it(stub, upstream: Simulator) -> None:
    cid = (await stub.CreateCampaign(create_request(6), metadata=auth())).id
    stream = stub.WatchCampaignRows(_request(cid), metadata=auth())
    start = (await until_snapshot_complete(stream))[-1].resume_token
    stream.cancel()
    revision = await _commit(upstream, stub, cid, {2: "scheduled", 3: "scheduled", 4: "completed"})
    whole = await read_messages(stub.WatchCampaignRows(_request(cid, start), metadata=auth()), 3)
    assert [m.revision for m in whole] == [revision] * 3
    for i, m in enumerate(whole):
        tail = await read_messages(stub.WatchCampaignRows(_request(cid, m.resume_token), metadata=auth()),
                           len(whole) - i - 1) if i < len(whole) - 1 else []
        assert [t.row_change.row.id for t in tail] == [w.row_change.row.id for w in whole[i + 1:]]


async def test_every_token_of_a_resumed_snapshot_resumes_right_after_it(stub, upstream: Simulator) -> None:
    cid = (await stub.CreateCampaign(create_request(8), metadata=auth())).id
    ids = await _row_ids(stub, cid)
    first = await read_messages(stub.WatchCampaignRows(_request(cid), metadata=auth()), 3)
    # The known rows 0 and 1 change in one revision, the unknown 6 too.
    await _commit(upstream, stub, cid, {0: "scheduled", 1: "completed", 6: "completed"})
    stream = stub.WatchCampaignRows(_request(cid, first[-1].resume_token), metadata=auth())
    reference = await until_snapshot_complete(stream)
    stream.cancel()
    described = [(m.row_change.type, m.row_change.row.id) for m in reference[:-1]]
    assert described == [(MODIFIED, ids[0]), (MODIFIED, ids[1])] + [(ADDED, rid) for rid in ids[3:]]
    # From any message of that stream, the rest of it, exactly.
    for i, m in enumerate(reference[:-1]):
        stream = stub.WatchCampaignRows(_request(cid, m.resume_token), metadata=auth())
        rest = await until_snapshot_complete(stream)
        stream.cancel()
        assert [(r.row_change.type, r.row_change.row.id) for r in rest[:-1]] == described[i + 1:]
        assert rest[-1].snapshot_complete.row_count == 8
    # From its marker: nothing of the snapshot again, the next live change only.
    live = stub.WatchCampaignRows(_request(cid, reference[-1].resume_token), metadata=auth())
    revision = await _commit(upstream, stub, cid, {2: "scheduled"})
    (change,) = await read_messages(live, 1)
    assert (change.revision, change.row_change.row.id, change.row_change.in_snapshot) == (revision, ids[2], False)


async def test_a_token_at_the_compaction_boundary_resumes_one_below_is_out_of_range(
    gateway, stub, upstream: Simulator
) -> None:
    cid = (await stub.CreateCampaign(create_request(4), metadata=auth())).id
    stream = stub.WatchCampaignRows(_request(cid), metadata=auth())
    before = (await until_snapshot_complete(stream))[-1]
    stream.cancel()
    r2 = await _commit(upstream, stub, cid, {2: "scheduled"})
    stream = stub.WatchCampaignRows(_request(cid, before.resume_token), metadata=auth())
    async with asyncio.timeout(20):  # r2's change, then a heartbeat: revision r2 complete
        while (m := await stream.read()).WhichOneof("event") != "heartbeat":
            inside_r2 = m
    stream.cancel()
    assert (inside_r2.revision, m.revision) == (r2, r2)
    r3 = await _commit(upstream, stub, cid, {3: "scheduled"})
    third = (await read_messages(stub.WatchCampaignRows(_request(cid, m.resume_token), metadata=auth()), 1))[0]
    assert third.revision == r3
    # Retention drops everything committed before revision r3: the log keeps what follows r2.
    await gateway.db.changelog.compact(older_than=third.commit_time.ToNanoseconds() / 1e9)
    resumed = await read_messages(stub.WatchCampaignRows(_request(cid, m.resume_token), metadata=auth()), 1)
    assert resumed[0].revision == r3 and resumed[0].row_change.row.id == third.row_change.row.id
    # Older positions, and one inside r2 (the rest of r2 is gone), cannot be resumed.
    for token in (before.resume_token, inside_r2.resume_token):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await read_messages(stub.WatchCampaignRows(_request(cid, token), metadata=auth()), 1)
        assert info.value.code() == grpc.StatusCode.OUT_OF_RANGE
