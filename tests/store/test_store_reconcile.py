"""Ending an unknown create after reconciliation: compare-and-set on the attempt."""

from __future__ import annotations

from gateway.store import Database, OutcomeUnknown, Replay, Started

from .conftest import FakeClock

T = "tenant-a"
FOUND = {"campaign": {"id": "cmp_found"}}


async def _unknown(db: Database, request_id: str) -> OutcomeUnknown:
    store = db.idempotency
    assert await store.begin(T, request_id, "h") == Started()
    store.abandon(T, request_id)
    begin = await store.begin(T, request_id, "h")
    assert isinstance(begin, OutcomeUnknown)
    return begin


async def test_settle_is_a_compare_and_set(db: Database) -> None:
    begin = await _unknown(db, "r1")
    store = db.idempotency
    assert await store.settle_unknown(T, "r1", begin.pending_since, FOUND)
    assert not await store.settle_unknown(T, "r1", begin.pending_since, {"campaign": {"id": "x"}})
    assert await store.begin(T, "r1", "h") == Replay(FOUND)
    assert await store.answered(T, ["cmp_found", "cmp_other"]) == {"cmp_found"}


async def test_release_waits_for_the_grace_window_and_happens_once(
    db: Database, clock: FakeClock
) -> None:
    begin = await _unknown(db, "r1")
    store = db.idempotency
    assert not await store.release_unknown(T, "r1", begin.pending_since, grace=120)
    clock.now += 120
    assert await store.release_unknown(T, "r1", begin.pending_since, grace=120)
    assert not await store.release_unknown(T, "r1", begin.pending_since, grace=120)
    assert await store.begin(T, "r1", "h") == Started()  # a new attempt
    # The new attempt's row is not the old one: neither can end it.
    assert not await store.release_unknown(T, "r1", begin.pending_since - 1, grace=0)
    assert not await store.settle_unknown(T, "r1", begin.pending_since - 1, FOUND)
