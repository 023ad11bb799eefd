"""Tokens (expired, forged, foreign), admission, shutdown."""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import ResumeTokenExpired, ResumeTokenInvalid, ShuttingDown
from gateway.upstream import NotFound
from gateway.watch import Position, RowFilter
from generated.revox.campaigns.v1 import row_pb2

from .conftest import Env, Sub, kind, request
from .helpers import driving


async def _token_after_changes(env: Env, cid: str) -> str:
    assert env.hub
    a = Sub(env.hub, request(cid, hb=0.1))
    await a.until(lambda m: kind(m) == "snapshot_complete")
    token = a.messages[-1].resume_token
    async with driving(env, cid, steps=10, dt=60):
        await a.until(lambda m: kind(m) == "row_change")
        await a.until(lambda m: m.revision >= 3)
    await a.cancel()
    return token


async def test_expired_token_is_out_of_range(env: Env) -> None:
    assert env.hub and env.db
    cid = await env.campaign(3)
    token = await _token_after_changes(env, cid)
    await env.db.changelog.compact(env.hub.clock() + 3600)
    b = Sub(env.hub, request(cid, token=token))
    with pytest.raises(ResumeTokenExpired) as info:
        await b.next()
    assert info.value.oldest_revision >= 3


async def test_compaction_loop_uses_retention(env: Env) -> None:
    await env.stop()
    await env.start(retention_seconds=0.0)
    assert env.hub and env.db
    cid = await env.campaign(3)
    token = await _token_after_changes(env, cid)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while (await env.db.changelog.state(cid)).compacted_revision < 2:  # the background task
        assert loop.time() < deadline, "compaction never ran"
        await asyncio.sleep(0.02)
    b = Sub(env.hub, request(cid, token=token))
    with pytest.raises(ResumeTokenExpired):
        await b.next()


@pytest.mark.parametrize("case", ["forged", "garbage", "campaign", "filter", "database", "ahead"])
async def test_bad_tokens_are_invalid(env: Env, case: str) -> None:
    assert env.hub and env.db
    cid = await env.campaign(2)
    other = await env.campaign(2)
    a = Sub(env.hub, request(cid, hb=0.1))
    await a.until(lambda m: kind(m) == "snapshot_complete")
    await a.cancel()
    token = a.messages[-1].resume_token
    req = request(cid, token=token)
    fp = RowFilter.build().fingerprint
    if case == "forged":
        req.resume_token = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    elif case == "garbage":
        req.resume_token = "%%%not a token"
    elif case == "campaign":
        req.campaign_id = other
    elif case == "filter":
        req.statuses.append(row_pb2.CALL_STATUS_CALLING)
    elif case == "database":
        req.resume_token = env.hub.tokens.encode("another-epoch", cid, fp, Position(1))
    elif case == "ahead":
        req.resume_token = env.hub.tokens.encode(env.db.changelog.epoch, cid, fp, Position(999))
    b = Sub(env.hub, req)
    with pytest.raises(ResumeTokenInvalid) as info:
        await b.next()
    if case == "database":
        assert "another gateway database" in str(info.value)
    assert env.hub.stats()["subscribers"] == 0


async def test_other_organization_gets_not_found(env: Env) -> None:
    assert env.hub
    cid = await env.campaign(2)
    s = Sub(env.hub, request(cid), key="sk_test_bob")
    with pytest.raises(NotFound):
        await s.next()
    assert s.messages == []
    assert env.hub.stats()["subscribers"] == 0


async def test_shutdown_ends_streams_with_shutting_down(env: Env) -> None:
    assert env.hub
    cid = await env.campaign(2)
    subs = [Sub(env.hub, request(cid, hb=5)) for _ in range(3)]
    for s in subs:
        await s.until(lambda m: kind(m) == "snapshot_complete")
    await env.hub.shutdown()
    for s in subs:
        with pytest.raises(ShuttingDown):
            await s.next(timeout=2)
    late = Sub(env.hub, request(cid))
    with pytest.raises(ShuttingDown):
        await late.next(timeout=2)
