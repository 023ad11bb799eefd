"""Slow consumers, heartbeats, degraded upstream, clean-up, shared polling."""

from __future__ import annotations

import asyncio

from gateway.service import Caller

from .conftest import KEY, Env, Sub, kind, request
from .helpers import driving, events, log_events, snapshot_revision, until_final


async def test_slow_consumer_is_isolated_and_catches_up(env: Env) -> None:
    await env.stop()
    await env.start(subscriber_queue=2)
    assert env.hub and env.db
    cid = await env.campaign(8)
    slow = env.hub.watch(Caller(KEY, "t"), request(cid, hb=0.1), None)
    slow_msgs = []
    while True:
        m = await asyncio.wait_for(slow.__anext__(), 5)
        slow_msgs.append(m)
        if kind(m) == "snapshot_complete":
            break
    fast = Sub(env.hub, request(cid, hb=0.1))
    await fast.until(lambda m: kind(m) == "snapshot_complete")
    async with driving(env, cid, steps=150, dt=60):
        await until_final(fast)
    assert len({m.revision for m in fast.messages if kind(m) == "row_change"}) > 2  # slow overflowed
    while True:  # the slow one now reads: everything, from the log, no gap
        m = await asyncio.wait_for(slow.__anext__(), 5)
        slow_msgs.append(m)
        if kind(m) == "heartbeat" and m.heartbeat.campaign_final:
            break
    await slow.aclose()
    await fast.cancel()
    expected = await log_events(env.db.changelog, cid, snapshot_revision(slow_msgs))
    assert events(slow_msgs) == expected
    assert events(fast.messages) == await log_events(env.db.changelog, cid, snapshot_revision(fast.messages))


async def test_idle_heartbeats_at_current_position(env: Env) -> None:
    assert env.hub
    cid = await env.campaign(2)
    s = Sub(env.hub, request(cid, hb=0.1))
    done = await s.until(lambda m: kind(m) == "snapshot_complete")
    hb = await s.until(lambda m: kind(m) == "heartbeat")
    assert hb.revision == done.revision and not hb.heartbeat.upstream_degraded
    assert hb.heartbeat.last_poll_time.seconds > 0
    await s.cancel()
    r = Sub(env.hub, request(cid, token=hb.resume_token, hb=0.1))  # a bookmark resumes
    hb2 = await r.until(lambda m: kind(m) == "heartbeat")
    assert hb2.revision == hb.revision and not [m for m in r.messages if kind(m) == "row_change"]
    await r.cancel()


async def test_degraded_heartbeat_on_upstream_faults(env: Env) -> None:
    assert env.hub
    cid = await env.campaign(2)
    s = Sub(env.hub, request(cid, hb=0.1))
    await s.until(lambda m: kind(m) == "snapshot_complete")
    env.sim.faults.fail_next(1000, status=503)
    bad = await s.until(lambda m: kind(m) == "heartbeat" and m.heartbeat.upstream_degraded)
    assert bad.heartbeat.detail
    env.sim.faults.clear()
    await s.until(lambda m: kind(m) == "heartbeat" and not m.heartbeat.upstream_degraded)
    await s.cancel()


async def test_subscribe_cancel_cycles_leak_nothing(env: Env) -> None:
    assert env.hub
    cid = await env.campaign(2)
    warm = Sub(env.hub, request(cid))
    await warm.until(lambda m: kind(m) == "snapshot_complete")
    baseline = len(asyncio.all_tasks())
    for _ in range(1000):
        s = Sub(env.hub, request(cid))
        await s.until(lambda m: kind(m) == "snapshot_complete")
        await s.cancel()
    assert len(asyncio.all_tasks()) <= baseline + 2
    assert env.hub.stats()["subscribers"] == 1
    await warm.cancel()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while env.hub.stats()["campaigns"] and loop.time() < deadline:  # linger, then reaped
        await asyncio.sleep(0.02)
    assert env.hub.stats()["pollers"] == 0 and env.hub.stats()["campaigns"] == 0


async def test_upstream_requests_independent_of_subscribers(env: Env) -> None:
    assert env.hub
    per_cycle = []
    for n in (1, 50):
        cid = await env.campaign(4)
        subs = [Sub(env.hub, request(cid, hb=0.1)) for _ in range(n)]
        for s in subs:
            await s.until(lambda m: kind(m) == "snapshot_complete")
        await env.sim.advance(30)
        before = dict(env.hub.stats())
        for _ in range(20):
            env.hub.poke(cid)
            await subs[0].until(lambda m: kind(m) in ("heartbeat", "row_change"))
        after = env.hub.stats()
        polls = after["polls"] - before["polls"]
        per_cycle.append((after["upstream_requests"] - before["upstream_requests"]) / max(1, polls))
        assert env.hub.stats()["pollers"] >= 1
        for s in subs:
            await s.cancel()
    # one request per poll cycle (active rows, one page), whatever the number of subscribers;
    # +-1 poll of slack: a cycle may straddle the before/after counters
    assert all(0.8 <= x <= 1.25 for x in per_cycle), per_cycle
