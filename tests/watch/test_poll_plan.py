"""What an active (non-sweep) poll cycle lists, and that it never loses a change.

Why: active cycles must stay cheap on big campaigns - early on by parking the
queue (listing the few moving and terminal rows instead of the waiting ones),
late by looking up the rows that left the listing instead of sweeping - and
neither may ever cost a status. Each test drives one Poller by hand on the
real simulator (manual clock): advance simulated time, run one cycle, then
compare every stored row with the upstream's, with no full sweep in between.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest

from gateway import upstream as up
from gateway.convert import create_body
from gateway.store import ChangeLog, CommitResult
from gateway.upstream import RevoxClient
from gateway.watch import _poller
from gateway.watch._poller import TERMINAL_STATUSES, Poller
from gateway.watch._state import CampaignState
from tests.support import create_request

from .conftest import KEY, Env

QUEUED = "queued_for_calling"


@dataclass
class Harness:
    env: Env
    cid: str
    poller: Poller
    calls: list[dict[str, Any]] = field(default_factory=list)  # get_rows kwargs, this cycle
    refuse_terminal: bool = False  # answer 400 to listings naming a terminal literal

    @property
    def log(self) -> ChangeLog:
        assert self.env.db is not None
        return self.env.db.changelog

    async def cycle(self, full: bool = False) -> CommitResult:
        self.calls.clear()
        return await self.poller._cycle(KEY, full)

    def listings(self) -> list[tuple[str, ...]]:
        return [tuple(c["statuses"]) for c in self.calls if not c.get("query")]

    def lookups(self) -> int:
        return sum(1 for c in self.calls if c.get("query"))

    def swept(self) -> bool:
        return () in self.listings()

    async def upstream(self) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        async with RevoxClient(self.env.sim.base_url) as c:  # not the spied client
            page = 0
            while True:
                body = await c.get_rows(KEY, self.cid, page=page, page_size=1000)
                rows.update((str(r["id"]), r) for r in body["rows"])
                if len(body["rows"]) < 1000:
                    return rows
                page += 1

    async def stored(self) -> dict[str, dict[str, Any]]:
        return {str(r["id"]): r for r in (await self.log.snapshot(self.cid)).rows}

    async def assert_in_sync(self) -> None:
        assert await self.stored() == await self.upstream()


async def harness(env: Env, n: int, cap: int) -> Harness:
    assert env.client is not None and env.db is not None
    async with RevoxClient(env.sim.base_url) as c:
        body = await c.create_campaign(KEY, create_body(create_request(n, max_concurrent_calls=cap)))
    cid = str(body["campaign"]["id"])
    state = CampaignState(cid)
    state.add_key(KEY)
    counters: dict[str, int] = defaultdict(int)
    poller = Poller(state, client=env.client, changelog=env.db.changelog, settings=env.settings,
                    clock=time.time, counters=counters)
    h = Harness(env, cid, poller)
    real = env.client.get_rows

    async def spy(*args: Any, **kwargs: Any) -> Any:
        h.calls.append(kwargs)
        statuses = tuple(kwargs.get("statuses") or ())
        if h.refuse_terminal and set(statuses) & set(TERMINAL_STATUSES):
            raise up.BadRequest("unknown call status in statuses", status=400, field="statuses")
        return await real(*args, **kwargs)

    env.client.get_rows = spy  # type: ignore[method-assign]  # shadows the method
    return h


async def test_parked_queue_is_not_listed_and_nothing_is_missed(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Early on, active cycles list calling/scheduled/terminal rows, never the queue.

    Rows leave the queue and finish between two cycles (a short call is never seen
    in ``calling``); they are caught as terminal rows, so the store still matches
    the upstream after every cycle.
    """
    monkeypatch.setattr(_poller, "_PAGE", 10)  # parking needs a page more queued than done
    h = await harness(env, 60, cap=3)
    await env.sim.advance(5)
    await h.cycle(full=True)
    parked = skipped_calling = 0
    for _ in range(25):
        await env.sim.advance(45)
        result = await h.cycle()
        assert not h.swept(), h.calls
        lists = h.listings()
        if all(QUEUED not in s for s in lists):
            parked += 1
            assert all(set(TERMINAL_STATUSES) <= set(s) for s in lists)
        skipped_calling += sum(
            1 for c in result.changes
            if c.prev_status == QUEUED and c.status not in (QUEUED, "calling")
        )
        await h.assert_in_sync()
    assert parked >= 5  # while the queue was long
    assert parked < 25  # and not once terminal rows outnumbered it
    assert skipped_calling > 0  # the case parking relies on was exercised


async def test_cancel_while_parked_reaches_every_row(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_poller, "_PAGE", 10)
    h = await harness(env, 60, cap=2)
    await env.sim.advance(5)
    await h.cycle(full=True)
    await env.sim.advance(30)
    await h.cycle()
    assert all(QUEUED not in s for s in h.listings())
    async with RevoxClient(env.sim.base_url) as c:
        await c.cancel_campaign(KEY, h.cid)
    result = await h.cycle()
    assert not h.swept()
    cancelled = [c for c in result.changes if c.status == "cancelled"]
    assert len(cancelled) >= 50 and all(c.prev_status == QUEUED for c in cancelled)
    await h.assert_in_sync()


async def test_rows_leaving_are_looked_up_not_swept(env: Env) -> None:
    """Without parking, a row that left the listing (went terminal) costs one lookup."""
    h = await harness(env, 40, cap=8)
    await env.sim.advance(5)
    await h.cycle(full=True)
    looked_up = 0
    for _ in range(30):
        await env.sim.advance(30)
        leaving = await _leaving(h)
        await h.cycle()
        assert not h.swept(), h.calls
        assert all(QUEUED in s for s in h.listings())  # the queue is listed, terminal rows not
        assert h.lookups() == leaving  # one request per row that left the listing
        looked_up += leaving
        await h.assert_in_sync()
    assert looked_up >= 10


async def _leaving(h: Harness) -> int:
    """Rows stored (last seen) active that the upstream has moved out of the active set."""
    up_rows = await h.upstream()
    return sum(1 for rid, r in (await h.stored()).items()
               if r["call"]["status"] in _poller.ACTIVE_STATUSES
               and up_rows[rid]["call"]["status"] not in _poller.ACTIVE_STATUSES)


async def _behind(h: Harness) -> set[str]:
    """Rows whose stored state differs from the upstream's."""
    stored, upstream = await h.stored(), await h.upstream()
    return {r for r in upstream if stored[r] != upstream[r]}


async def _prepare_burst(h: Harness, env: Env) -> int:
    await env.sim.advance(5)
    await h.cycle(full=True)
    await env.sim.advance(900)
    return await _leaving(h)


async def test_over_budget_lookups_wait_one_cycle(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = await harness(env, 40, cap=10)
    leaving = await _prepare_burst(h, env)
    assert leaving >= 3
    monkeypatch.setattr(_poller, "_LOOKUP_LIMIT", leaving - 1)  # the budget (1 page < it)
    await h.cycle()
    assert h.lookups() == leaving - 1 and not h.swept()
    (late,) = await _behind(h)  # only the row over budget is behind
    upstream = await h.upstream()
    await h.cycle()  # first in line now, within budget: looked up, no sweep
    assert not h.swept()
    assert any(c.get("query") == upstream[late]["phone_number"] for c in h.calls)
    await h.assert_in_sync()


async def test_rows_overdue_beyond_budget_trigger_a_sweep(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = await harness(env, 40, cap=10)
    leaving = await _prepare_burst(h, env)
    assert leaving >= 3
    monkeypatch.setattr(_poller, "_LOOKUP_LIMIT", 1)
    await h.cycle()
    assert h.lookups() == 1 and len(await _behind(h)) == leaving - 1 >= 2
    await h.cycle()  # more overdue rows than the budget: they must not wait again
    assert h.swept()
    await h.assert_in_sync()


async def test_refused_terminal_literals_turn_parking_off(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_poller, "_PAGE", 10)
    h = await harness(env, 60, cap=3)
    await env.sim.advance(5)
    await h.cycle(full=True)
    h.refuse_terminal = True
    for _ in range(4):
        await env.sim.advance(45)
        await h.cycle()
        await h.assert_in_sync()
    assert all(QUEUED in s for s in h.listings())  # parking is off: the queue is listed again


BASE = _poller._BASE_ACTIVE


async def test_a_refusal_is_blamed_on_the_literals_never_taken_only(env: Env) -> None:
    h = await harness(env, 3, cap=3)
    p = h.poller
    p._statuses = (*BASE, "post_processing", "dialing")
    p._accepted = {*BASE, "post_processing"}  # listed and answered before
    p._blame(p._statuses, None)
    assert p._statuses == (*BASE, "post_processing") and p._refused == {"dialing"}
    p._listen("dialing")  # rows still show it: not asked for again
    assert "dialing" not in p._statuses
    # A parked listing with a new literal: the literal first, parking only if refused again.
    parked = tuple(s for s in (*BASE, "paused") if s != QUEUED) + TERMINAL_STATUSES
    p._statuses = (*BASE, "paused")
    p._blame(parked, QUEUED)
    assert p._refused == {"dialing", "paused"} and p._can_park
    p._blame(tuple(s for s in BASE if s != QUEUED) + TERMINAL_STATUSES, QUEUED)
    assert not p._can_park


async def test_an_undocumented_literal_of_more_than_a_page_is_left_to_the_sweeps(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_poller, "_PAGE", 10)
    env.sim.faults.drift = True
    env.sim.faults.drift_status_literals = {QUEUED: "waiting_in_line"}
    # Each harness spies on the shared client: one at a time, so each sees its own calls.
    for n, listed in ((30, False), (6, True)):  # 27 rows wait under the new literal, or 3
        h = await harness(env, n, cap=3)
        await env.sim.advance(5)
        await h.cycle(full=True)
        await env.sim.advance(1)
        await h.cycle()
        assert h.listings()
        assert all(("waiting_in_line" in s) == listed for s in h.listings()), (n, h.calls)


async def test_a_done_campaign_waits_for_rows_under_an_undocumented_literal(env: Env) -> None:
    # Calls in progress finish on their own after a cancel; under a renamed literal they
    # are not "active", yet their ends must reach subscribers before campaign_final.
    env.sim.faults.drift = True
    env.sim.faults.drift_status_literals = {"calling": "dialing"}
    h = await harness(env, 6, cap=3)
    await env.sim.advance(5)
    await h.cycle(full=True)
    async with RevoxClient(env.sim.base_url) as c:
        await c.cancel_campaign(KEY, h.cid)
    await h.cycle()
    rows = await h.stored()
    dialing = [r for r in rows.values() if r["call"]["status"] == "dialing"]
    assert dialing and not h.poller._active  # the queued rows were cancelled
    assert await h.poller._finality(KEY, True, False) is None  # held for the calls
    await env.sim.advance(900)  # the calls end
    await h.cycle()
    await h.assert_in_sync()
    after = await h.stored()
    assert all(after[r["id"]]["call"]["status"] != "dialing" for r in dialing)
