"""Kill-and-resume, restart-and-resume, the snapshot race, filter transitions."""

from __future__ import annotations

import asyncio

from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import row_pb2

from .conftest import Env, Sub, kind, request
from .helpers import driving, events, log_events, snapshot_revision, until_final


async def test_kill_mid_stream_and_resume(env: Env) -> None:
    assert env.hub and env.db
    cid = await env.campaign(6)
    a = Sub(env.hub, request(cid, hb=0.1))
    await a.until(lambda m: kind(m) == "snapshot_complete")
    async with driving(env, cid, steps=80):
        for _ in range(3):
            await a.until(lambda m: kind(m) == "row_change")
        await a.cancel()
        first = list(a.messages)
        b = Sub(env.hub, request(cid, token=first[-1].resume_token, hb=0.1))
        await until_final(b)
    await b.cancel()
    got = events(first) + events(b.messages)
    expected = await log_events(env.db.changelog, cid, snapshot_revision(first))
    assert got == expected and len(got) > 3
    assert not any(m.row_change.in_snapshot for m in b.messages if kind(m) == "row_change")


async def test_restart_and_resume(env: Env) -> None:
    assert env.hub and env.db
    cid = await env.campaign(4)
    a = Sub(env.hub, request(cid, hb=0.1))
    await a.until(lambda m: kind(m) == "snapshot_complete")
    await env.sim.advance(60)
    env.hub.poke(cid)
    await a.until(lambda m: kind(m) == "row_change")
    await a.cancel()
    token = a.messages[-1].resume_token
    await env.stop()
    await env.sim.advance(300)  # changes during the downtime
    await env.start()
    assert env.hub and env.db
    b = Sub(env.hub, request(cid, token=token, hb=0.1))
    async with driving(env, cid, steps=80):
        await until_final(b)
    await b.cancel()
    got = events(a.messages) + events(b.messages)
    assert got == await log_events(env.db.changelog, cid, snapshot_revision(a.messages))


async def test_snapshot_race_is_gap_free(env: Env) -> None:
    """Subscribers joining while revisions commit: snapshot at S, then exactly S+1...."""
    assert env.hub and env.db
    cid = await env.campaign(8)
    subs: list[Sub] = []
    for _ in range(6):
        subs.append(Sub(env.hub, request(cid, hb=0.1)))
        await subs[-1].until(lambda m: kind(m) == "snapshot_complete")
        # Revisions commit while this one is live; the clock moves only here, so the
        # campaign cannot end before every subscriber has joined, however slow the joins.
        async with asyncio.timeout(30):
            while True:
                await env.sim.advance(60)
                env.hub.poke(cid)
                m = await subs[-1].until(lambda m: kind(m) in ("row_change", "heartbeat"))
                if kind(m) == "row_change":
                    break
    async with driving(env, cid, steps=120, dt=60):
        for s in subs:
            await until_final(s)
    for s in subs:
        await s.cancel()
        rows: dict[str, int] = {}
        for m in s.messages:
            if kind(m) == "row_change":
                if m.row_change.type == pb.ROW_CHANGE_TYPE_ROW_REMOVED:
                    rows.pop(m.row_change.row.id)
                else:
                    rows[m.row_change.row.id] = m.row_change.row.call.status
        snap = [m for m in s.messages if kind(m) == "row_change" and m.row_change.in_snapshot]
        assert len(snap) == 8
        assert events(s.messages) == await log_events(env.db.changelog, cid, snapshot_revision(s.messages))
        final = (await env.db.changelog.snapshot(cid)).rows
        assert rows == {r["id"]: getattr(row_pb2, "CALL_STATUS_" + r["call"]["status"].upper()) for r in final}


async def test_filter_transitions(env: Env) -> None:
    assert env.hub
    cid = await env.campaign(4)
    calling = Sub(env.hub, request(cid, hb=0.1, statuses=[row_pb2.CALL_STATUS_CALLING]))
    await calling.until(lambda m: kind(m) == "snapshot_complete")
    async with driving(env, cid, steps=80, dt=30):
        await until_final(calling)
    await calling.cancel()
    changes = [m.row_change for m in calling.messages if kind(m) == "row_change" and not m.row_change.in_snapshot]
    added = [c for c in changes if c.type == pb.ROW_CHANGE_TYPE_ROW_ADDED]
    removed = [c for c in changes if c.type == pb.ROW_CHANGE_TYPE_ROW_REMOVED]
    assert added and removed
    assert all(c.row.call.status == row_pb2.CALL_STATUS_CALLING for c in added)
    assert all(c.removal_reason == pb.ROW_REMOVAL_REASON_LEFT_FILTER for c in removed)
    assert all(c.row.call.status != row_pb2.CALL_STATUS_CALLING for c in removed)
    # every row that entered left again, and nothing else is reported
    assert sorted(c.row.id for c in added) == sorted(c.row.id for c in removed)
    for c in changes:
        if c.type == pb.ROW_CHANGE_TYPE_ROW_MODIFIED:
            assert c.previous_status == row_pb2.CALL_STATUS_CALLING


async def test_mid_snapshot_token_resumes_the_snapshot(env: Env) -> None:
    assert env.hub and env.db
    cid = await env.campaign(5)
    a = Sub(env.hub, request(cid, hb=0.1))
    await a.until(lambda m: kind(m) == "snapshot_complete")
    await a.cancel()
    cut = a.messages[1]  # after the second snapshot row
    await env.sim.advance(60)
    env.hub.poke(cid)
    probe = Sub(env.hub, request(cid, hb=0.1, send_initial_snapshot=False))
    await probe.until(lambda m: kind(m) == "row_change")
    await probe.cancel()
    b = Sub(env.hub, request(cid, token=cut.resume_token, hb=0.1))
    await b.until(lambda m: kind(m) == "snapshot_complete")
    await b.cancel()
    state: dict[str, str] = {m.row_change.row.id: m.row_change.row.SerializeToString() for m in a.messages[:2]}
    for m in b.messages:
        if kind(m) == "row_change":
            state[m.row_change.row.id] = m.row_change.row.SerializeToString()
    current = (await env.db.changelog.snapshot(cid)).rows
    assert sorted(state) == sorted(r["id"] for r in current)
    snap_ids = [m.row_change.row.id for m in b.messages if kind(m) == "row_change" and m.row_change.in_snapshot]
    assert snap_ids == sorted(r["id"] for r in current)[2:]
    await asyncio.sleep(0)
