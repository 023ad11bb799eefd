"""The poller lease of a watched campaign, and the fencing of change-log commits by it.

Why: of several replicas watching one campaign exactly one may poll it; one that lost
its lease (paused past it, partitioned) must not write a revision after its successor
started, whatever it believes. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest

from gateway.store import Database, LeaseLost

K = "camp_lease"
TTL = 10.0


def row(rid: str, status: str = "pending") -> dict[str, Any]:
    return {"id": rid, "call": {"status": status}}


async def _commit(db: Database, rows: list[dict[str, Any]], lease: Any, now: float) -> int:
    log = db.changelog
    diff = log.start_poll(K, full_sweep=True)
    await log.observe(diff, rows)
    return (await log.commit(diff, now=now, lease=lease)).revision


async def test_one_holder_at_a_time_and_each_tenure_a_new_epoch(db: Database) -> None:
    log = db.changelog
    a = await log.take_lease(K, "A", ttl=TTL, now=100.0)
    assert a is not None and a.epoch == 1
    assert await log.take_lease(K, "B", ttl=TTL, now=105.0) is None  # A's is alive
    assert await log.take_lease(K, "A", ttl=TTL, now=105.0) == a  # keeping it: same epoch
    assert await log.renew_lease(K, a, ttl=TTL, now=109.0)
    assert await log.take_lease(K, "B", ttl=TTL, now=118.0) is None  # renewed until 119
    b = await log.take_lease(K, "B", ttl=TTL, now=119.5)
    assert b is not None and b.epoch == 2
    assert not await log.renew_lease(K, a, ttl=TTL, now=120.0)  # A learns it lost it
    await log.release_lease(K, b)
    c = await log.take_lease(K, "A", ttl=TTL, now=121.0)  # released: at once, no waiting
    assert c is not None and c.epoch == 3


async def test_a_commit_under_a_stale_epoch_is_refused_and_writes_nothing(db: Database) -> None:
    log = db.changelog
    a = await log.take_lease(K, "A", ttl=TTL, now=100.0)
    assert await _commit(db, [row("r1")], a, 101.0) == 1
    b = await log.take_lease(K, "B", ttl=TTL, now=200.0)  # A's expired: B polls now
    with pytest.raises(LeaseLost):
        await _commit(db, [row("r1", "calling")], a, 201.0)
    assert (await log.state(K)).current_revision == 1
    assert (await log.snapshot(K)).rows == [row("r1")]
    assert await _commit(db, [row("r1", "completed")], b, 202.0) == 2
    # Released, then taken back by A: A's old epoch stays refused all the same.
    assert b is not None
    await log.release_lease(K, b)
    await log.take_lease(K, "A", ttl=TTL, now=203.0)
    with pytest.raises(LeaseLost):
        await _commit(db, [row("r2")], a, 204.0)


async def test_commits_without_a_lease_still_work(db: Database) -> None:
    assert await _commit(db, [row("r1")], None, 1.0) == 1


async def test_the_lease_is_free_when_never_taken_released_or_expired(db: Database) -> None:
    log = db.changelog
    assert await log.lease_is_free(K, now=100.0)  # the campaign is not even known
    a = await log.take_lease(K, "A", ttl=TTL, now=100.0)
    assert a is not None
    assert not await log.lease_is_free(K, now=100.0)
    assert not await log.lease_is_free(K, now=109.9)
    assert await log.lease_is_free(K, now=110.0)  # expires at 110: free from then on
    assert await log.renew_lease(K, a, ttl=TTL, now=105.0)
    assert not await log.lease_is_free(K, now=110.0)
    await log.release_lease(K, a)
    assert await log.lease_is_free(K, now=106.0)


async def test_only_the_holder_says_the_campaign_is_degraded_and_a_commit_clears_it(
    db: Database,
) -> None:
    """Followers' heartbeats repeat what the holder's polls fail with; a former holder
    cannot overwrite its successor's word."""
    log = db.changelog
    a = await log.take_lease(K, "A", ttl=TTL, now=100.0)
    assert a is not None
    assert await log.report_degraded(K, a, "Revox API: 503")
    assert (await log.state(K)).degraded_detail == "Revox API: 503"
    assert await _commit(db, [row("r1")], a, 101.0) == 1
    assert (await log.state(K)).degraded_detail is None  # a successful poll clears it
    b = await log.take_lease(K, "B", ttl=TTL, now=200.0)
    assert b is not None
    assert not await log.report_degraded(K, a, "stale word of A")
    assert (await log.state(K)).degraded_detail is None
    assert await log.report_degraded(K, b, "Revox API: timeout")
    assert await log.report_degraded(K, b, None)
    assert (await log.state(K)).degraded_detail is None
