"""Campaign cache: tenant isolation, write-through, list replacement, TTL helper."""

from __future__ import annotations

import asyncio

from gateway.store import Database, is_fresh


def test_is_fresh() -> None:
    assert is_fresh(100.0, 10.0, 105.0)
    assert not is_fresh(100.0, 10.0, 110.0)  # exactly ttl old: stale
    assert not is_fresh(100.0, 10.0, 200.0)
    assert is_fresh(100.0, 10.0, 95.0)  # small backwards clock step tolerated
    assert not is_fresh(100.0, 10.0, 80.0)  # far future fetched_at is not pinned fresh
    assert not is_fresh(100.0, 0.0, 100.0)  # ttl 0 disables caching


async def test_put_get_roundtrip(db: Database) -> None:
    payload = {"id": "c1", "name": "Relance", "nested": {"a": [1, 2]}, "unicode": "é☎"}
    await db.campaigns.put("tA", "c1", payload, fetched_at=10.0)
    got = await db.campaigns.get("tA", "c1")
    assert got is not None and got.payload == payload and got.fetched_at == 10.0
    assert await db.campaigns.get("tA", "missing") is None


async def test_tenant_isolation(db: Database) -> None:
    await db.campaigns.put("tA", "same", {"id": "same", "owner": "A"}, fetched_at=1.0)
    assert await db.campaigns.get("tB", "same") is None
    await db.campaigns.put("tB", "same", {"id": "same", "owner": "B"}, fetched_at=2.0)
    a, b = await db.campaigns.get("tA", "same"), await db.campaigns.get("tB", "same")
    assert a is not None and a.payload["owner"] == "A"
    assert b is not None and b.payload["owner"] == "B"
    await db.campaigns.evict("tB", "same")
    assert await db.campaigns.get("tB", "same") is None
    assert await db.campaigns.get("tA", "same") is not None
    await db.campaigns.put_many("tB", [{"id": "x"}], fetched_at=3.0, replace_all=True)
    assert await db.campaigns.get("tA", "same") is not None  # B's list did not evict A


async def test_put_overwrites_and_memo_is_invalidated(db: Database) -> None:
    await db.campaigns.put("t", "c", {"id": "c", "v": 1}, fetched_at=1.0)
    assert (await db.campaigns.get("t", "c")).payload["v"] == 1  # type: ignore[union-attr]
    await db.campaigns.put("t", "c", {"id": "c", "v": 2}, fetched_at=2.0)
    assert (await db.campaigns.get("t", "c")).payload["v"] == 2  # type: ignore[union-attr]
    await db.campaigns.evict("t", "c")
    assert await db.campaigns.get("t", "c") is None


async def test_older_observation_does_not_overwrite_newer(db: Database) -> None:
    await db.campaigns.put("t", "c", {"id": "c", "v": "new"}, fetched_at=20.0)
    await db.campaigns.put("t", "c", {"id": "c", "v": "old"}, fetched_at=10.0)
    got = await db.campaigns.get("t", "c")
    assert got is not None and got.payload["v"] == "new" and got.fetched_at == 20.0


async def test_concurrent_get_and_put_never_memoises_stale(db: Database) -> None:
    await db.campaigns.put("t", "c", {"id": "c", "v": 0}, fetched_at=0.0)
    for i in range(1, 20):
        await asyncio.gather(
            db.campaigns.get("t", "c"),
            db.campaigns.put("t", "c", {"id": "c", "v": i}, fetched_at=float(i)),
            db.campaigns.get("t", "c"),
        )
        got = await db.campaigns.get("t", "c")
        assert got is not None and got.payload["v"] == i


async def test_list_never_fetched_is_none(db: Database) -> None:
    await db.campaigns.put("t", "c", {"id": "c"}, fetched_at=1.0)
    assert await db.campaigns.list("t") is None
    await db.campaigns.put_many("t", [{"id": "c"}], fetched_at=1.0, replace_all=False)
    assert await db.campaigns.list("t") is None  # a partial batch is not the full list


async def test_list_replace_all_evicts_and_keeps_order(db: Database) -> None:
    await db.campaigns.put_many(
        "t", [{"id": "a"}, {"id": "b"}, {"id": "c"}], fetched_at=1.0, replace_all=True
    )
    await db.campaigns.put("t", "solo", {"id": "solo"}, fetched_at=1.5)
    await db.campaigns.put("other", "b", {"id": "b"}, fetched_at=1.5)
    lst = await db.campaigns.list("t")
    assert lst is not None and [c["id"] for c in lst.campaigns] == ["a", "b", "c"]
    assert lst.fetched_at == 1.0

    await db.campaigns.put_many(
        "t", [{"id": "c", "v": 2}, {"id": "a"}], fetched_at=5.0, replace_all=True
    )
    lst = await db.campaigns.list("t")
    assert lst is not None and lst.fetched_at == 5.0
    assert lst.campaigns == [{"id": "c", "v": 2}, {"id": "a"}]
    assert await db.campaigns.get("t", "b") is None  # no longer listed: evicted
    assert await db.campaigns.get("t", "solo") is None
    assert await db.campaigns.get("other", "b") is not None  # other tenant untouched

    # A later Get refreshes a listed campaign in place; Delete removes it.
    await db.campaigns.put("t", "a", {"id": "a", "v": 9}, fetched_at=6.0)
    await db.campaigns.evict("t", "c")
    lst = await db.campaigns.list("t")
    assert lst is not None and lst.campaigns == [{"id": "a", "v": 9}]

    await db.campaigns.invalidate_list("t")
    assert await db.campaigns.list("t") is None
    assert await db.campaigns.get("t", "a") is not None


async def test_replace_all_with_empty_list(db: Database) -> None:
    await db.campaigns.put_many("t", [{"id": "a"}], fetched_at=1.0, replace_all=True)
    await db.campaigns.put_many("t", [], fetched_at=2.0, replace_all=True)
    lst = await db.campaigns.list("t")
    assert lst is not None and lst.campaigns == [] and lst.fetched_at == 2.0
    assert await db.campaigns.get("t", "a") is None


async def test_survives_restart_without_memo(db_url: str) -> None:
    async with Database(db_url) as db:
        await db.campaigns.put("t", "c", {"id": "c"}, fetched_at=1.0)
    async with Database(db_url, campaign_memo_size=0) as db:
        got = await db.campaigns.get("t", "c")
        assert got is not None and got.payload == {"id": "c"}


async def test_the_memo_serves_what_the_database_holds(db_url: str) -> None:
    """A warm read (memo) and a cold one (the database) answer the same payload; how
    much faster the memo is, is ``make bench``'s cached GetCampaign figure."""
    async with (
        Database(db_url, campaign_memo_size=0) as cold,
        Database(db_url, campaign_memo_size=4096) as warm,
    ):
        payload = {"id": "c", "name": "x" * 800, "rows": list(range(50))}
        await cold.campaigns.put("t", "c", payload, fetched_at=1.0)
        first = await warm.campaigns.get("t", "c")
        for _ in range(3):
            from_db = await cold.campaigns.get("t", "c")
            from_memo = await warm.campaigns.get("t", "c")
            assert from_db is not None and from_memo is not None
            assert from_memo.payload == from_db.payload == payload
        assert first is not None and first.fetched_at == 1.0


async def test_replicas_share_the_cache(db_url: str, backend: str) -> None:
    """Replicas on one database see each other's writes at once: on PostgreSQL the
    memo is off by default (on SQLite, one process per file, it must be turned off)."""
    memo = {"campaign_memo_size": 0} if backend == "sqlite" else {}
    async with Database(db_url, **memo) as a, Database(db_url, **memo) as b:
        await a.campaigns.put("t", "c", {"id": "c", "v": 1}, fetched_at=10.0)
        got = await b.campaigns.get("t", "c")
        assert got is not None and got.payload["v"] == 1 and got.fetched_at == 10.0
        assert is_fresh(got.fetched_at, 5.0, 12.0) and not is_fresh(got.fetched_at, 5.0, 15.0)
        await a.campaigns.put("t", "c", {"id": "c", "v": 2}, fetched_at=11.0)
        got = await b.campaigns.get("t", "c")
        assert got is not None and got.payload["v"] == 2
        await a.campaigns.evict("t", "c")
        assert await b.campaigns.get("t", "c") is None  # a Delete through a, a Get through b
        await a.campaigns.put_many(
            "t", [{"id": "x"}, {"id": "y"}], fetched_at=20.0, replace_all=True
        )
        lst = await b.campaigns.list("t")
        assert lst is not None and [c["id"] for c in lst.campaigns] == ["x", "y"]
        assert await b.campaigns.list("other tenant") is None


async def test_concurrent_list_replacements_never_mix(db_url: str) -> None:
    """Two replicas replacing one tenant's list at once: the result is one of the two
    lists, whole (a per-tenant lock on PostgreSQL; SQLite has one writer anyway)."""
    firsts = [{"id": f"a{i:02d}"} for i in range(30)]
    seconds = [{"id": f"b{i:02d}"} for i in range(30)] + firsts[::2]
    async with Database(db_url) as a, Database(db_url) as b:
        for round_ in range(5):
            await asyncio.gather(
                a.campaigns.put_many("t", firsts, fetched_at=float(round_), replace_all=True),
                b.campaigns.put_many("t", seconds, fetched_at=float(round_), replace_all=True),
            )
            lst = await a.campaigns.list("t")
            assert lst is not None
            assert [c["id"] for c in lst.campaigns] in ([c["id"] for c in firsts],
                                                        [c["id"] for c in seconds])


async def test_a_list_naming_a_campaign_twice(db: Database) -> None:
    await db.campaigns.put_many(
        "t", [{"id": "a", "v": 1}, {"id": "b"}, {"id": "a", "v": 2}],
        fetched_at=1.0, replace_all=True,
    )
    lst = await db.campaigns.list("t")
    assert lst is not None and lst.campaigns == [{"id": "b"}, {"id": "a", "v": 2}]
