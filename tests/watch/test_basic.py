from __future__ import annotations

from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import row_pb2

from .conftest import Env, Sub, kind, request


async def test_snapshot_then_live(env: Env) -> None:
    cid = await env.campaign(3)
    assert env.hub is not None
    sub = Sub(env.hub, request(cid))
    snap = [await sub.next() for _ in range(3)]
    assert all(m.row_change.type == pb.ROW_CHANGE_TYPE_ROW_ADDED and m.row_change.in_snapshot for m in snap)
    done = await sub.next()
    assert kind(done) == "snapshot_complete" and done.snapshot_complete.row_count == 3
    await env.sim.advance(60)
    env.hub.poke(cid)
    m = await sub.until(lambda m: kind(m) == "row_change")
    assert m.row_change.type == pb.ROW_CHANGE_TYPE_ROW_MODIFIED
    assert m.revision > done.revision
    assert m.row_change.previous_status != row_pb2.CALL_STATUS_UNSPECIFIED
    await sub.cancel()

