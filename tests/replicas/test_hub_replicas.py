"""Two watch hubs (two replicas' worth) on one database, in one process.

Why: of the replicas watching a campaign exactly one may poll it, and the others'
subscribers must still get every revision from the change log; when the poller stops
(shutdown releases its lease), another takes over at once, not after the lease TTL.
Runs on SQLite (followers read every 0.2 s) and PostgreSQL (NOTIFY doorbell).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from gateway.config import Settings
from gateway.simulator import Simulator
from gateway.store import Database, sqlite_url
from gateway.upstream import RevoxClient
from gateway.watch import NotifyDoorbell, WatchHub
from tests.store._pg import fresh_postgres_url
from tests.watch.conftest import TOKEN_KEY, Env, Sub, kind, request

LONG_TTL = 60.0  # a takeover that waited for expiry would time the test out


@contextlib.asynccontextmanager
async def _hub(url: str, upstream: Simulator, settings: Settings) -> AsyncIterator[WatchHub]:
    async with contextlib.AsyncExitStack() as stack:
        db = await stack.enter_async_context(Database(url))
        client = await stack.enter_async_context(RevoxClient(upstream.base_url))
        dsn = db.notify_dsn
        hub = await stack.enter_async_context(WatchHub(
            client=client, changelog=db.changelog, token_key=TOKEN_KEY,
            settings=replace(settings, lease_ttl=LONG_TTL).watch,
            follow_interval=0.2 if dsn is None else 1.0))
        if dsn is not None:
            bell = await stack.enter_async_context(
                NotifyDoorbell(dsn, ring=hub.ring, ring_all=hub.ring_all))
            await bell.connected.wait()
        yield hub


@contextlib.asynccontextmanager
async def _database(backend: str, tmp_path: object) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield sqlite_url(tmp_path / "replicas.db")  # type: ignore[operator]
    else:
        async with fresh_postgres_url() as url:
            yield url


def _changes(sub: Sub) -> list[tuple[int, str]]:
    return [(m.revision, m.row_change.row.id) for m in sub.messages
            if kind(m) == "row_change" and not m.row_change.in_snapshot]


async def _advance_until(upstream: Simulator, sub: Sub, more_than: int) -> None:
    """Simulated time runs until ``sub`` got more than ``more_than`` changes."""
    while len(_changes(sub)) <= more_than:
        await upstream.advance(30)
        with contextlib.suppress(TimeoutError):
            await sub.until(lambda m: kind(m) == "row_change", timeout=0.3)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_one_hub_polls_the_other_follows_then_takes_over_on_release(
    backend: str, upstream: Simulator, settings: Settings, tmp_path: object,
) -> None:
    async with _database(backend, tmp_path) as url:
        first = _hub(url, upstream, settings)
        a = await first.__aenter__()
        try:
            cid = await Env(upstream, settings, tmp_path).campaign(4)  # type: ignore[arg-type]
            sub_a = Sub(a, request(cid, hb=1))
            await sub_a.until(lambda m: kind(m) == "snapshot_complete")
            async with _hub(url, upstream, settings) as b:
                sub_b = Sub(b, request(cid, hb=1))
                await sub_b.until(lambda m: kind(m) == "snapshot_complete")
                await _advance_until(upstream, sub_b, 0)
                assert a.stats()["polls"] > 0
                assert b.stats()["polls"] == 0  # it follows the log, it never polled
                await sub_a.cancel()
                await first.__aexit__(None, None, None)  # releases the lease
                seen = len(_changes(sub_b))
                await _advance_until(upstream, sub_b, seen)
                assert b.stats()["polls"] > 0  # took over long before the 60 s TTL
                got = _changes(sub_b)
                revisions = sorted({r for r, _ in got})
                assert revisions == list(range(revisions[0], revisions[-1] + 1))  # no gap
                assert len(got) == len(set(got))  # no duplicate
                await sub_b.cancel()
        finally:
            await first.__aexit__(None, None, None)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_poller_whose_lease_was_taken_stops_polling_and_follows(
    backend: str, upstream: Simulator, settings: Settings, tmp_path: object,
) -> None:
    """A holder that paused past its lease (simulated: the lease is expired in the
    database and taken by an intruder) must stop polling, not write, and follow; when
    the intruder lets go, it polls again."""
    from sqlalchemy import update

    from gateway.store._schema import watch_campaigns

    async with _database(backend, tmp_path) as url, _hub(url, upstream, settings) as a, \
            Database(url) as db:
        cid = await Env(upstream, settings, tmp_path).campaign(4)  # type: ignore[arg-type]
        sub = Sub(a, request(cid, hb=1))
        await sub.until(lambda m: kind(m) == "snapshot_complete")
        async with db.engine.begin() as conn:
            await conn.execute(update(watch_campaigns).values(lease_expires_at=0.0))
        intruder = await db.changelog.take_lease(cid, "intruder", ttl=LONG_TTL, now=1e10)
        assert intruder is not None
        polls = a.stats()["polls"]
        await upstream.advance(30)
        # The next commit is refused (or the renewal fails): it follows from then on.
        while a.stats()["pollers"]:
            await sub.until(lambda m: True, timeout=5)
        assert a.stats()["followers"] == 1
        revision = (await db.changelog.state(cid)).current_revision
        polls = a.stats()["polls"]
        await upstream.advance(30)
        await sub.until(lambda m: kind(m) == "heartbeat", timeout=5)
        assert a.stats()["polls"] == polls  # a follower does not poll
        assert (await db.changelog.state(cid)).current_revision == revision  # nor commit
        await db.changelog.release_lease(cid, intruder)
        seen = len(_changes(sub))
        await _advance_until(upstream, sub, seen)  # it took the lease back at once
        assert a.stats()["pollers"] == 1
        await sub.cancel()
