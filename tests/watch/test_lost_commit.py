"""A commit whose answer is lost: the revision is in the log, the poller never heard so.

Why: when the database goes away as a poll commits (PostgreSQL unreachable, a
connection reset during COMMIT), the revision may be durable while the poller gets an
error. Its next cycle finds those rows already stored and commits nothing new; unless
it publishes what the log holds, its subscribers wait for the next change to notice
the gap (and never, if the campaign goes quiet). Losing exactly that answer cannot be
arranged with a real network, so the real ChangeLog commits and then the answer is
replaced by the error a reset connection gives.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.store import CommitResult
from tests.watch.conftest import Env, Sub, kind, request


async def test_a_revision_whose_commit_answer_was_lost_is_still_delivered(
    env: Env, monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert env.hub and env.db
    changelog = env.db.changelog
    commit = changelog.commit
    lost: list[int] = []
    armed = False  # the first sweep's revision is the snapshot's: lose a later one

    async def commit_then_lose_the_answer(*args: Any, **kwargs: Any) -> CommitResult:
        result = await commit(*args, **kwargs)
        if armed and result.changes and not lost:
            lost.append(result.revision)  # durable in the log; the poller hears a reset
            raise ConnectionResetError("connection lost during COMMIT")
        return result

    monkeypatch.setattr(changelog, "commit", commit_then_lose_the_answer)
    cid = await env.campaign(4)
    sub = Sub(env.hub, request(cid, hb=1))
    await sub.until(lambda m: kind(m) == "snapshot_complete")
    armed = True
    async with asyncio.timeout(30):  # simulated time runs until a poll commits a change
        while not lost:
            polls = env.hub.stats()["polls"]
            await env.sim.advance(30)
            # A poll on the new time: it committed nothing, or a change (answer lost).
            while not lost and env.hub.stats()["polls"] <= polls:
                await asyncio.sleep(0.02)  # polling a counter, bounded by the timeout
    # Nothing moves upstream from here: only the log can bring that revision.
    got = await sub.until(lambda m: kind(m) == "row_change" and not m.row_change.in_snapshot,
                          timeout=10)
    assert got.revision == lost[0]
    await sub.cancel()
