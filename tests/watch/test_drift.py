"""Watching a drifted upstream (SDK 0.5.0 shapes and newer).

Why: the 0.5.0 rows endpoint answers ``{"rows": [...]}`` with every (filtered) row and
ignores ``page``/``page_size``. A poller that kept paging would fetch the same list again
and again (or forever); one that took a filtered, unpaged answer for the whole campaign
would report every row outside the filter as removed. And a call status literal newer
than the contract must reach subscribers (enum unset, ``*_raw`` set) without stopping
the poller. The page size is shrunk to 2 rows so that paging is observable with a
six-row campaign.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import pytest

from gateway.upstream import RevoxClient
from gateway.watch import _poller
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import row_pb2

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

ROWS = 6
NEW_LITERAL = "waiting_in_line"  # what drift renders instead of queued_for_calling


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_poller, "_PAGE", 2)


async def _upstream_state(env: Env, cid: str) -> dict[str, str]:
    async with RevoxClient(env.sim.base_url) as c:
        body = await c.get_rows(KEY, cid, page=0, page_size=1000)
    return {str(r["id"]): str(r["call"]["status"]) for r in body["rows"]}


def _snapshot_ids(msgs: list[pb.WatchCampaignRowsResponse]) -> list[str]:
    return [m.row_change.row.id for m in msgs
            if kind(m) == "row_change" and m.row_change.in_snapshot]


async def test_paged_upstream_is_read_page_by_page(env: Env) -> None:
    """The control: with 0.1.1 shapes the same poller really pages (0, 1, 2 of 2 rows)."""
    assert env.hub
    cid = await env.campaign(5)
    calls = record(env, "get_rows")
    s = Sub(env.hub, request(cid, hb=0.1))
    done = await s.until(lambda m: kind(m) == "snapshot_complete", timeout=3)
    await s.cancel()
    assert done.snapshot_complete.row_count == 5 and len(set(_snapshot_ids(s.messages))) == 5
    first_sweep = [c.kwargs["page"] for c in calls if c.poll == 0]
    assert first_sweep == [0, 1, 2]


async def test_unpaged_rows_complete_snapshot_each_change_once(env: Env) -> None:
    assert env.hub and env.db
    env.sim.faults.drift = True
    cid = await env.campaign(ROWS)
    calls = record(env, "get_rows")
    s = Sub(env.hub, request(cid, hb=0.1))
    done = await s.until(lambda m: kind(m) == "snapshot_complete", timeout=3)
    ids = _snapshot_ids(s.messages)
    assert done.snapshot_complete.row_count == ROWS and len(set(ids)) == ROWS == len(ids)
    async with driving(env, cid, steps=150, dt=30):
        await until_final(s, timeout=10)
    await s.cancel()

    got = events(s.messages)
    assert got == await log_events(env.db.changelog, cid, snapshot_revision(s.messages))
    assert len(got) == len(set(got)) and len(got) >= ROWS  # each row changed, each change once
    assert pb.ROW_CHANGE_TYPE_ROW_REMOVED not in {t for _, _, t in got}  # none was deleted
    assert state_of(s.messages) == await _upstream_state(env, cid)  # nothing lost
    # No page after the first was ever asked for, and each cycle stays bounded: one
    # listing plus at most one lookup per row that left the active set.
    assert {c.kwargs["page"] for c in calls} == {0}
    per_cycle = Counter(c.poll for c in calls)
    assert max(per_cycle.values()) <= 1 + ROWS, per_cycle
    assert sum(per_cycle.values()) <= 2 * len(per_cycle), per_cycle  # mostly one request


async def test_unknown_status_literal_reaches_subscribers_raw(env: Env) -> None:
    assert env.hub and env.db
    env.sim.faults.drift = True
    env.sim.faults.drift_status_literals = {"queued_for_calling": NEW_LITERAL}
    cid = await env.campaign(ROWS)  # two lines for six rows: rows queue
    s = Sub(env.hub, request(cid, hb=0.1))
    await s.until(lambda m: kind(m) == "snapshot_complete", timeout=3)
    async with driving(env, cid, steps=150, dt=30):
        await until_final(s, timeout=10)
    await s.cancel()

    changes = [m.row_change for m in s.messages if kind(m) == "row_change"]
    unknown = [c for c in changes if c.row.call.status_raw == NEW_LITERAL]
    assert unknown and all(c.row.call.status == row_pb2.CALL_STATUS_UNSPECIFIED for c in unknown)
    left = [c for c in changes if c.previous_status_raw == NEW_LITERAL]
    assert left and all(c.previous_status == row_pb2.CALL_STATUS_UNSPECIFIED for c in left)
    assert all(c.row.call.status_raw != NEW_LITERAL for c in left)  # a real move, delivered
    assert not any(kind(m) == "heartbeat" and m.heartbeat.upstream_degraded for m in s.messages)
    assert env.hub.stats()["poll_errors"] == 0
    got = events(s.messages)
    assert got == await log_events(env.db.changelog, cid, snapshot_revision(s.messages))
    assert state_of(s.messages) == await _upstream_state(env, cid)


def _sweeps(calls: list[Call]) -> list[Call]:
    """Full listings: no status filter and no lookup query."""
    return [c for c in calls if not c.kwargs.get("statuses") and not c.kwargs.get("query")]


async def _until_upstream_state(env: Env, s: Sub, cid: str, timeout: float = 10.0) -> None:
    """Poke the poller until the stream's state is the upstream's, within ``timeout``."""
    assert env.hub is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while state_of(s.messages) != (up := await _upstream_state(env, cid)):
        seen = state_of(s.messages)
        stale = {r: (seen.get(r), st) for r, st in up.items() if seen.get(r) != st}
        assert loop.time() < deadline, f"the stream never caught up: {stale}"
        env.hub.poke(cid)
        with contextlib.suppress(TimeoutError):
            await s.next(timeout=0.3)  # an event or a heartbeat (every 0.1 s)


async def test_rows_under_a_renamed_literal_are_followed_between_sweeps(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A row shown as "waiting_in_line" that is called and ends between two polls is missing
    # from the next listing: it must be looked up then, not left to the next full sweep.
    monkeypatch.setattr(_poller, "_PAGE", 1000)  # 28 rows under the literal: not a crowd
    await env.stop()
    hub = await env.start(full_sweep_every=100_000)  # the first poll's sweep, then none
    env.sim.faults.drift = True
    env.sim.faults.drift_status_literals = {"queued_for_calling": NEW_LITERAL}
    cid = await env.campaign(30)
    await env.sim.advance(5)  # the rows are queued (under the new literal) behind two lines
    s = Sub(hub, request(cid, hb=0.1))
    await s.until(lambda m: kind(m) == "snapshot_complete", timeout=5)
    calls = record(env, "get_rows")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not any(NEW_LITERAL in c.kwargs.get("statuses", ()) for c in calls):
        assert loop.time() < deadline, "the new literal was never listed"
        hub.poke(cid)  # it is listed from the cycle after the rows showed it
        await s.next(timeout=1)
    await _until_upstream_state(env, s, cid)
    before = state_of(s.messages)
    await env.sim.advance(900)  # queued rows are called and their calls end
    await _until_upstream_state(env, s, cid)
    after = state_of(s.messages)
    await s.cancel()
    assert any(before[r] == NEW_LITERAL and after[r] in ("completed", "errored") for r in after)
    assert not _sweeps(calls)  # followed by the active polls, not by a sweep


async def test_a_cancel_reaches_the_stream_while_waiting_rows_are_parked(env: Env) -> None:
    # SDK 0.5.0 turns the waiting rows of a cancelled campaign into not_launched: a parked
    # listing (every status but the waiting one) must ask for it on such an upstream.
    await env.stop()
    hub = await env.start(full_sweep_every=100_000)
    env.sim.faults.drift = True
    cid = await env.campaign(12)  # two lines: ten rows wait, which _PAGE=2 makes parkable
    await env.sim.advance(5)
    s = Sub(hub, request(cid, hb=0.1))
    await s.until(lambda m: kind(m) == "snapshot_complete", timeout=5)
    calls = record(env, "get_rows")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not any("completed" in c.kwargs.get("statuses", ()) for c in calls):  # parked
        assert loop.time() < deadline, "the waiting status was never parked"
        hub.poke(cid)
        await s.next(timeout=1)
    parked = [c for c in calls if "completed" in c.kwargs.get("statuses", ())]
    assert "queued_for_calling" not in parked[0].kwargs["statuses"]
    assert "not_launched" in parked[0].kwargs["statuses"]
    async with RevoxClient(env.sim.base_url) as c:
        await c.cancel_campaign(KEY, cid)
    await _until_upstream_state(env, s, cid)
    await s.cancel()
    assert "not_launched" in state_of(s.messages).values()
    assert not _sweeps(calls)
