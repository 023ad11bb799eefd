"""Idempotent create (AIP-155) in one process: replay, mismatch, concurrency, abort,
restarts (across processes: test_store_idempotency_replicas.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.store import (
    Database,
    InFlight,
    Mismatch,
    OutcomeUnknown,
    Replay,
    Started,
)

T = "tenant-a"
RESPONSE = {"id": "camp_1", "status": "draft", "rows": 3}


async def test_replay_after_complete(db: Database) -> None:
    store = db.idempotency
    assert await store.begin(T, "r1", "h1") == Started()
    await store.complete(T, "r1", RESPONSE)
    assert await store.begin(T, "r1", "h1") == Replay(RESPONSE)
    assert await store.wait_or_begin(T, "r1", "h1", timeout=1) == Replay(RESPONSE)


async def test_mismatch(db: Database) -> None:
    store = db.idempotency
    await store.begin(T, "r1", "h1")
    await store.complete(T, "r1", RESPONSE)
    assert await store.begin(T, "r1", "h2") == Mismatch()
    assert await store.wait_or_begin(T, "r1", "h2", timeout=None) == Mismatch()


async def test_keys_are_per_tenant(db: Database) -> None:
    store = db.idempotency
    await store.begin(T, "r1", "h1")
    await store.complete(T, "r1", RESPONSE)
    assert await store.begin("tenant-b", "r1", "h1") == Started()


async def test_begin_does_not_wait_for_local_owner(db: Database) -> None:
    store = db.idempotency
    assert await store.begin(T, "r1", "h1") == Started()
    assert await store.begin(T, "r1", "h1") == InFlight()
    await store.abort(T, "r1")


async def test_concurrent_duplicate_waits_then_replays(db: Database) -> None:
    store = db.idempotency
    owner_started = asyncio.Event()
    results: dict[str, object] = {}

    async def owner() -> None:
        results["owner"] = await store.wait_or_begin(T, "r1", "h1", timeout=None)
        owner_started.set()
        # The duplicate is already parked on the claim (it ran right after us).
        await store.complete(T, "r1", RESPONSE)

    async def duplicate() -> None:
        results["dup"] = await store.wait_or_begin(T, "r1", "h1", timeout=None)
        # It can only have returned after the owner completed.
        assert owner_started.is_set()

    async def different_body() -> None:
        results["other"] = await store.wait_or_begin(T, "r1", "h-other", timeout=None)

    await asyncio.gather(owner(), duplicate(), different_body())
    assert results == {"owner": Started(), "dup": Replay(RESPONSE), "other": Mismatch()}


async def test_waiter_becomes_owner_after_abort(db: Database) -> None:
    store = db.idempotency
    results: list[object] = []

    async def owner() -> None:
        results.append(await store.wait_or_begin(T, "r1", "h1", timeout=None))
        await store.abort(T, "r1")  # e.g. upstream said 400 / connection refused

    async def duplicate() -> None:
        outcome = await store.wait_or_begin(T, "r1", "h1", timeout=None)
        results.append(outcome)
        await store.complete(T, "r1", RESPONSE)

    await asyncio.gather(owner(), duplicate())
    assert results == [Started(), Started()]
    assert await store.begin(T, "r1", "h1") == Replay(RESPONSE)


async def test_abort_then_retry(db: Database) -> None:
    store = db.idempotency
    assert await store.begin(T, "r1", "h1") == Started()
    await store.abort(T, "r1")
    assert await store.begin(T, "r1", "h2") == Started()  # the row is gone entirely


async def test_wait_times_out_as_in_flight(db: Database) -> None:
    store = db.idempotency
    assert await store.begin(T, "r1", "h1") == Started()
    assert await store.wait_or_begin(T, "r1", "h1", timeout=0.05) == InFlight()
    assert await store.wait_or_begin(T, "r1", "h1", timeout=0) == InFlight()
    await store.complete(T, "r1", RESPONSE)


async def test_owner_task_ending_without_outcome_means_unknown(db: Database) -> None:
    store = db.idempotency
    release = asyncio.Event()

    async def owner() -> None:
        assert await store.wait_or_begin(T, "r1", "h1", timeout=None) == Started()
        release.set()
        # returns without complete/abort (e.g. a bug, or cancelled mid-POST)

    async def duplicate() -> object:
        await release.wait()
        return await store.wait_or_begin(T, "r1", "h1", timeout=None)

    owner_task = asyncio.create_task(owner())
    outcome = await duplicate()
    await owner_task
    if isinstance(outcome, InFlight):  # pragma: no cover - ordering guard
        pytest.fail("duplicate should not time out")
    # Either it parked before the owner ended, or found the orphaned row.
    assert isinstance(outcome, OutcomeUnknown)
    assert isinstance(await store.begin(T, "r1", "h1"), OutcomeUnknown)


async def test_abandon_gives_outcome_unknown(db: Database) -> None:
    store = db.idempotency

    async def owner() -> None:
        assert await store.wait_or_begin(T, "r1", "h1", timeout=None) == Started()
        store.abandon(T, "r1")

    async def duplicate() -> object:
        return await store.wait_or_begin(T, "r1", "h1", timeout=None)

    _, outcome = await asyncio.gather(owner(), duplicate())
    assert isinstance(outcome, OutcomeUnknown)


async def test_replay_after_restart(db_url: str) -> None:
    async with Database(db_url) as db:
        assert await db.idempotency.begin(T, "r1", "h1") == Started()
        await db.idempotency.complete(T, "r1", RESPONSE)
    async with Database(db_url) as db:
        assert await db.idempotency.wait_or_begin(T, "r1", "h1", timeout=1) == Replay(RESPONSE)
        assert await db.idempotency.begin(T, "r1", "h2") == Mismatch()


async def test_pending_after_restart_is_outcome_unknown(db_url: str, clock: Any) -> None:
    clock.now = 1000.0
    async with Database(db_url, clock=clock) as db:
        assert await db.idempotency.begin(T, "r1", "h1") == Started()
        # crash: neither complete nor abort
    clock.now += 60
    async with Database(db_url, clock=clock, pending_timeout=600) as db:
        outcome = await db.idempotency.wait_or_begin(T, "r1", "h1", timeout=1)
        assert outcome == OutcomeUnknown(pending_since=1000.0)
        assert await db.idempotency.begin(T, "r1", "h2") == Mismatch()
        clock.now += 600  # older than pending_timeout: a retry may take over
        assert await db.idempotency.begin(T, "r1", "h1") == Started(recovered=True)
        await db.idempotency.complete(T, "r1", RESPONSE)
        assert await db.idempotency.begin(T, "r1", "h1") == Replay(RESPONSE)


async def test_pending_timeout_none_never_takes_over(db_url: str, clock: Any) -> None:
    async with Database(db_url, clock=clock, pending_timeout=None) as db:
        await db.idempotency.begin(T, "r1", "h1")
        db.idempotency.abandon(T, "r1")
        clock.now += 10**9
        assert isinstance(await db.idempotency.begin(T, "r1", "h1"), OutcomeUnknown)


async def test_complete_without_pending_row_raises(db: Database) -> None:
    with pytest.raises(LookupError):
        await db.idempotency.complete(T, "never-begun", RESPONSE)


async def test_purge(db: Database, clock: Any) -> None:
    store = db.idempotency
    await store.begin(T, "old", "h")
    await store.complete(T, "old", RESPONSE)
    clock.now += 100
    await store.begin(T, "new", "h")
    await store.complete(T, "new", RESPONSE)
    assert await store.purge(older_than=clock.now - 50) == 1
    assert await store.begin(T, "old", "h") == Started()
    assert await store.begin(T, "new", "h") == Replay(RESPONSE)


async def test_abort_deletes_its_own_pending_row_and_nothing_else(db: Database) -> None:
    """The same request_id of another tenant, another request_id of the same tenant, and
    a row that is already done survive an abort."""
    store = db.idempotency
    for tenant, request_id in ((T, "r1"), (T, "r2"), ("tenant-b", "r1"), (T, "done")):
        assert await store.begin(tenant, request_id, "h1") == Started()
    await store.complete(T, "done", RESPONSE)
    await store.abort(T, "r1")
    await store.abort(T, "done")
    assert await store.begin(T, "r1", "h2") == Started()  # gone: any body may start again
    assert await store.begin(T, "done", "h1") == Replay(RESPONSE)
    for tenant, request_id in ((T, "r2"), ("tenant-b", "r1")):
        await store.complete(tenant, request_id, RESPONSE)  # raises if the row were gone
        assert await store.begin(tenant, request_id, "h1") == Replay(RESPONSE)


async def test_abort_leaves_another_owners_row(db_url: str, clock: Any) -> None:
    """A row another process took over (its owner id) is that process's to end."""
    async with Database(db_url, clock=clock, pending_timeout=0.0) as a, \
            Database(db_url, clock=clock, pending_timeout=0.0) as b:
        assert await a.idempotency.begin(T, "r1", "h1") == Started()
        a.idempotency.abandon(T, "r1")
        clock.now += 1
        assert await b.idempotency.wait_or_begin(T, "r1", "h1", timeout=1) == Started(
            recovered=True)
        await a.idempotency.abort(T, "r1")  # the former owner: not its row any more
        await b.idempotency.complete(T, "r1", RESPONSE)
        assert await a.idempotency.begin(T, "r1", "h1") == Replay(RESPONSE)


async def test_purge_keeps_a_record_updated_at_the_cut_off(db: Database, clock: Any) -> None:
    store = db.idempotency
    await store.begin(T, "edge", "h")
    await store.complete(T, "edge", RESPONSE)
    assert await store.purge(older_than=clock.now) == 0
    assert await store.begin(T, "edge", "h") == Replay(RESPONSE)


async def test_an_unknown_attempt_is_released_only_once_its_grace_is_over(
    db: Database, clock: Any
) -> None:
    store = db.idempotency
    assert await store.begin(T, "u", "h") == Started()
    store.abandon(T, "u")
    unknown = await store.begin(T, "u", "h")
    assert isinstance(unknown, OutcomeUnknown)
    clock.now += 9.5
    assert store.grace_left(T, "u", unknown.pending_since, grace=10) == pytest.approx(0.5)
    assert not await store.release_unknown(T, "u", unknown.pending_since, grace=10)
    clock.now += 0.6
    assert await store.release_unknown(T, "u", unknown.pending_since, grace=10)
    assert await store.begin(T, "u", "h") == Started()
