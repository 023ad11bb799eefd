"""Poller key failover: one campaign, subscribers holding different keys of its organization.

Why: the single poller of a campaign polls with ONE admitted subscriber's key. If that key
is revoked (or its holder leaves), the other subscribers must not notice: the poller moves
to another admitted key and every change still reaches them, once. The revoked key's holder
must lose the stream, and when no admitted key works any more every stream must end with
the mapped error instead of hanging on heartbeats forever.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest

from gateway import upstream as up
from gateway.rpc import status_for
from gateway.upstream import RevoxClient

from .conftest import KEY, Env, Sub, kind, request
from .helpers import (
    Call,
    driving,
    events,
    log_events,
    record,
    snapshot_revision,
    state_of,
    until_final,
)

LAPTOP = "sk_test_alice_laptop"  # more keys of KEY's organization
CI = "sk_test_alice_ci"


async def _upstream_state(env: Env, cid: str, key: str) -> dict[str, str]:
    async with RevoxClient(env.sim.base_url) as c:
        body = await c.get_rows(key, cid, page=0, page_size=1000)
    return {str(r["id"]): str(r["call"]["status"]) for r in body["rows"]}


async def _watchers(env: Env, cid: str, keys: list[str]) -> list[Sub]:
    assert env.hub
    subs = []
    for key in keys:  # one at a time: the first admitted key is the one the poller picks
        subs.append(Sub(env.hub, request(cid, hb=0.1), key=key))
        await subs[-1].until(lambda m: kind(m) == "snapshot_complete")
    return subs


def _keys_after(calls: list[Call], start: int) -> list[str]:
    return [str(c.args[0]) for c in calls[start:]]


async def test_revoked_polling_key_fails_over_without_gap(env: Env) -> None:
    assert env.hub and env.db
    env.sim.add_key(LAPTOP, organization_of=KEY)
    env.sim.add_key(CI, organization_of=KEY)
    cid = await env.campaign(6)
    rows_calls = record(env, "get_rows")
    owner, laptop, ci = await _watchers(env, cid, [KEY, LAPTOP, CI])
    async with driving(env, cid, steps=150, dt=30):
        await laptop.until(lambda m: kind(m) == "row_change" and not m.row_change.in_snapshot)
        assert set(_keys_after(rows_calls, 0)) == {KEY}  # the first admitted key polls
        env.sim.revoke_key(KEY)
        cut = len(rows_calls)
        revision_at = (await env.db.changelog.state(cid)).current_revision
        with pytest.raises(up.Unauthenticated) as info:  # the revoked holder loses the stream
            await owner.until(lambda m: False, timeout=5)
        assert status_for(info.value).code == grpc.StatusCode.UNAUTHENTICATED
        for s in (laptop, ci):
            await until_final(s)
    await laptop.cancel()
    await ci.cancel()
    after = _keys_after(rows_calls, cut)
    # The revoked key is used by at most the one poll cycle that found out (a cycle may read
    # several pages or rows at once, each then told 401), and never after another key took
    # over: counting calls instead raced with the pages of that cycle.
    assert len({c.poll for c in rows_calls[cut:] if c.args[0] == KEY}) <= 1
    first_other = next(i for i, k in enumerate(after) if k != KEY)
    assert KEY not in after[first_other:]
    others = set(after) - {KEY}
    assert others and others <= {LAPTOP, CI}  # polling went on with a remaining key
    assert env.hub.stats()["poll_errors"] == 0  # a lost key is not an upstream outage
    truth = await _upstream_state(env, cid, CI)
    for s in (laptop, ci):
        got = events(s.messages)
        assert got == await log_events(env.db.changelog, cid, snapshot_revision(s.messages))
        assert any(rev > revision_at for rev, _, _ in got)  # changes after the failover arrived
        assert len(got) == len(set(got))
        assert state_of(s.messages) == truth  # nothing lost: the stream ends where upstream is
        assert s.error is None


async def test_departed_holder_key_is_no_longer_used(env: Env) -> None:
    assert env.hub and env.db
    env.sim.add_key(LAPTOP, organization_of=KEY)
    cid = await env.campaign(4)
    rows_calls = record(env, "get_rows")
    owner, laptop = await _watchers(env, cid, [KEY, LAPTOP])
    await owner.cancel()
    cut = len(rows_calls)
    env.sim.revoke_key(KEY)  # would fail any poll still made with it
    async with driving(env, cid, steps=150, dt=30):
        await until_final(laptop)
    await laptop.cancel()
    assert _keys_after(rows_calls, cut) and set(_keys_after(rows_calls, cut)) == {LAPTOP}
    got = events(laptop.messages)
    assert got == await log_events(env.db.changelog, cid, snapshot_revision(laptop.messages))
    assert state_of(laptop.messages) == await _upstream_state(env, cid, LAPTOP)


@pytest.mark.parametrize(
    ("case", "error", "code"),
    [("revoked", up.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
     ("deleted", up.NotFound, grpc.StatusCode.NOT_FOUND)],
)
async def test_no_working_key_ends_every_stream(
    env: Env, case: str, error: type[up.UpstreamError], code: grpc.StatusCode
) -> None:
    assert env.hub
    env.sim.add_key(LAPTOP, organization_of=KEY)
    cid = await env.campaign(3)
    subs = await _watchers(env, cid, [KEY, LAPTOP, LAPTOP])
    if case == "revoked":
        env.sim.revoke_key(KEY)
        env.sim.revoke_key(LAPTOP)
    else:
        async with RevoxClient(env.sim.base_url) as c:
            await c.delete_campaign(LAPTOP, cid)
    await env.sim.advance(30)
    env.hub.poke(cid)
    for s in subs:
        with pytest.raises(error) as info:  # heartbeats every 0.1 s until then: no hang
            await s.until(lambda m: False, timeout=5)
        assert status_for(info.value).code == code
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2
    while env.hub.stats()["pollers"] and loop.time() < deadline:
        await asyncio.sleep(0.01)
    assert env.hub.stats()["pollers"] == 0 and env.hub.stats()["subscribers"] == 0
