"""Watch change log: revisions, diffing, snapshot + resume, compaction, epochs."""

from __future__ import annotations

import asyncio
import random
from contextlib import aclosing
from typing import Any

import pytest

from gateway.store import (
    Change,
    ChangeLog,
    Database,
    RevisionAhead,
    RevisionCompacted,
    default_extractor,
)
from tests.store.conftest import NewUrl

K = "camp_1"


def row(rid: str, status: str = "queued", result: str | None = None, **extra: Any) -> dict:
    call: dict[str, Any] = {"status": status}
    if result is not None:
        call["last_call_attempt"] = {"result": result}
    return {"id": rid, "phone_number": "+33600000000", "call": call, **extra}


def test_default_extractor() -> None:
    assert default_extractor(row("a", "completed", "voicemail")) == ("completed", "voicemail")
    assert default_extractor({"id": "a"}) == (None, None)
    assert default_extractor({"id": "a", "call": None}) == (None, None)
    assert default_extractor({"id": "a", "call": {"last_call_attempt": None}}) == (None, None)


async def test_revisions_one_per_poll_and_no_empty(db: Database) -> None:
    log = db.changelog
    first = await log.commit_poll(K, [row("a"), row("b")], full_sweep=True, now=1.0)
    assert first.revision == 1
    assert [(c.kind, c.row_id, c.seq, c.revision) for c in first.changes] == [
        ("added", "a", 0, 1),
        ("added", "b", 1, 1),
    ]
    same = await log.commit_poll(K, [row("a"), row("b")], full_sweep=True, now=2.0)
    assert same.revision == 1 and same.changes == []  # no empty revision
    # key order does not matter (canonical JSON)
    reordered = {"call": {"status": "queued"}, "phone_number": "+33600000000", "id": "a"}
    assert (await log.commit_poll(K, [reordered], full_sweep=False, now=2.5)).changes == []

    second = await log.commit_poll(
        K, [row("a", "completed", "answered")], full_sweep=False, now=3.0
    )
    assert second.revision == 2
    (change,) = second.changes
    assert (change.kind, change.status, change.result) == ("modified", "completed", "answered")
    assert (change.prev_status, change.prev_result) == ("queued", None)
    state = await log.state(K)
    assert state.current_revision == 2 and state.last_polled_at == 3.0
    assert not state.terminal


async def test_partial_poll_does_not_remove(db: Database) -> None:
    log = db.changelog
    await log.commit_poll(K, [row("a"), row("b")], full_sweep=True, now=1.0)
    res = await log.commit_poll(K, [row("b", "calling")], full_sweep=False, now=2.0)
    assert [(c.kind, c.row_id) for c in res.changes] == [("modified", "b")]
    snap = await log.snapshot(K)
    assert [r["id"] for r in snap.rows] == ["a", "b"]


async def test_full_sweep_records_removal(db: Database) -> None:
    log = db.changelog
    await log.commit_poll(
        K, [row("a"), row("b", "completed", "answered")], full_sweep=True, now=1.0
    )
    res = await log.commit_poll(K, [row("a")], full_sweep=True, now=2.0)
    assert res.revision == 2
    (change,) = res.changes
    assert change.kind == "removed" and change.row_id == "b"
    assert change.row == row("b", "completed", "answered")  # last known row
    assert (change.prev_status, change.prev_result) == ("completed", "answered")
    assert [r["id"] for r in (await log.snapshot(K)).rows] == ["a"]
    # reappearing later is an 'added' again
    back = await log.commit_poll(K, [row("a"), row("b")], full_sweep=True, now=3.0)
    assert [(c.kind, c.row_id) for c in back.changes] == [("added", "b")]
    # removal and modification in the same poll share one revision
    mixed = await log.commit_poll(K, [row("a", "calling")], full_sweep=True, now=4.0)
    assert {(c.kind, c.row_id, c.revision) for c in mixed.changes} == {
        ("modified", "a", 4),
        ("removed", "b", 4),
    }


async def test_campaigns_are_independent(db: Database) -> None:
    log = db.changelog
    await log.commit_poll("x", [row("a")], full_sweep=True, now=1.0)
    await log.commit_poll("x", [row("a", "calling")], full_sweep=True, now=1.0)
    res = await log.commit_poll("y", [row("a")], full_sweep=True, now=1.0)
    assert res.revision == 1
    assert (await log.snapshot("y")).rows == [row("a")]
    assert (await log.state("unknown")).current_revision == 0


async def test_snapshot_then_changes_since_sees_every_change_once(db: Database) -> None:
    log = db.changelog
    rng = random.Random(7)
    truth: dict[str, dict] = {}

    def apply(changes: list[Change], state: dict[str, dict]) -> None:
        for c in changes:
            if c.kind == "removed":
                del state[c.row_id]
            else:
                assert (c.kind == "added") == (c.row_id not in state)
                state[c.row_id] = c.row

    views: list[tuple[int, dict[str, dict]]] = []
    for poll in range(40):
        ids = [f"r{i:03d}" for i in range(30) if rng.random() < 0.8]
        rows = [row(i, rng.choice(["queued", "calling", "completed"])) for i in ids]
        full = poll % 3 == 0
        if not full:
            rows = rows[: rng.randint(0, len(rows))]
        res = await log.commit_poll(K, rows, full_sweep=full, now=float(poll))
        apply(res.changes, truth)
        snap = await log.snapshot(K)
        views.append((snap.revision, {r["id"]: r for r in snap.rows}))
        assert snap.revision == res.revision

    final = await log.state(K)
    seen_total: list[tuple[int, int]] = []
    for start_rev, start_rows in views:
        state, rev = dict(start_rows), start_rev
        while True:
            batch = await log.changes_since(K, rev, limit=3)
            if not batch:
                break
            seen_total.extend((c.revision, c.seq) for c in batch)
            apply(batch, state)
            rev = batch[-1].revision
        assert rev == final.current_revision
        assert state == truth
    # resuming from the very beginning yields each (revision, seq) once, in order
    all_changes = await log.changes_since(K, 0, limit=10_000)
    keys = [(c.revision, c.seq) for c in all_changes]
    assert keys == sorted(set(keys))


async def test_limit_never_splits_a_revision(db: Database) -> None:
    log = db.changelog
    await log.commit_poll(K, [row(f"r{i}") for i in range(5)], full_sweep=True, now=1.0)
    await log.commit_poll(K, [row("r0", "calling")], full_sweep=False, now=2.0)
    await log.commit_poll(K, [row(f"r{i}", "done") for i in range(3)], full_sweep=False, now=3.0)
    page = await log.changes_since(K, 0, limit=2)
    assert [c.revision for c in page] == [1] * 5  # extended to the end of revision 1
    page = await log.changes_since(K, 1, limit=1)
    assert [c.revision for c in page] == [2]
    page = await log.changes_since(K, 1, limit=2)
    assert [c.revision for c in page] == [2, 3, 3, 3]
    assert await log.changes_since(K, 3, limit=1) == []
    with pytest.raises(ValueError):
        await log.changes_since(K, 0, limit=0)


async def test_revision_ahead_is_rejected(db: Database) -> None:
    await db.changelog.commit_poll(K, [row("a")], full_sweep=True, now=1.0)
    with pytest.raises(RevisionAhead) as err:
        await db.changelog.changes_since(K, 5, limit=10)
    assert err.value.current_revision == 1


async def test_compaction(db: Database) -> None:
    log = db.changelog
    for i in range(5):
        await log.commit_poll(K, [row("a", f"s{i}")], full_sweep=True, now=float(i * 10))
    await log.commit_poll("other", [row("a")], full_sweep=True, now=100.0)
    deleted = await log.compact(older_than=25.0)  # revisions 1..3 committed at 0, 10, 20
    assert deleted == 3
    state = await log.state(K)
    assert (state.current_revision, state.compacted_revision) == (5, 3)
    assert (await log.state("other")).compacted_revision == 0
    with pytest.raises(RevisionCompacted) as err:
        await log.changes_since(K, 2, limit=10)
    assert err.value.compacted_revision == 3
    assert [c.revision for c in await log.changes_since(K, 3, limit=10)] == [4, 5]
    # compacting again with an older cutoff never moves the point backwards
    assert await log.compact(older_than=0.0) == 0
    assert (await log.state(K)).compacted_revision == 3
    # the current state is still whole
    assert (await log.snapshot(K)).rows == [row("a", "s4")]


async def test_epoch_stable_across_reopen_and_distinct_per_database(new_url: NewUrl) -> None:
    url_a, url_b = await new_url(), await new_url()
    async with Database(url_a) as db:
        epoch_a = (await db.changelog.state(K)).epoch
        await db.changelog.commit_poll(K, [row("a")], full_sweep=True, now=1.0)
        assert (await db.changelog.state(K)).epoch == epoch_a
    async with Database(url_a) as db:
        state = await db.changelog.state(K)
        assert state.epoch == epoch_a and state.current_revision == 1
        assert db.changelog.epoch == epoch_a
    async with Database(url_b) as db:
        assert (await db.changelog.state(K)).epoch != epoch_a


async def test_iter_snapshot_pages_one_revision(db: Database) -> None:
    log = db.changelog
    await log.commit_poll(K, [row(f"r{i:02d}") for i in range(25)], full_sweep=True, now=1.0)
    pages = []
    async with aclosing(log.iter_snapshot(K, page_size=10)) as it:
        async for page in it:
            pages.append(page)
            # a write between pages is not visible to this snapshot
            await log.commit_poll(K, [row("zz")], full_sweep=False, now=2.0)
    assert [len(p.rows) for p in pages] == [10, 10, 5]
    assert {p.revision for p in pages} == {1}
    empty = [p async for p in log.iter_snapshot("empty")]
    assert [(p.revision, p.rows) for p in empty] == [(0, [])]


async def test_terminal_flag(db: Database) -> None:
    await db.changelog.commit_poll(K, [row("a")], full_sweep=True, now=1.0)
    await db.changelog.mark_terminal(K)
    assert (await db.changelog.state(K)).terminal
    await db.changelog.mark_terminal(K, False)  # e.g. a campaign started again
    assert not (await db.changelog.state(K)).terminal


async def test_compaction_keeps_a_revision_committed_at_the_cut_off(db: Database) -> None:
    log = db.changelog
    for i in range(3):
        await log.commit_poll(K, [row("a", f"s{i}")], full_sweep=True, now=float(i * 10))
    assert await log.compact(older_than=10.0) == 1  # revision 1 (at 0); 2 is at 10 exactly
    assert (await log.state(K)).compacted_revision == 1
    assert [c.revision for c in await log.changes_since(K, 1, limit=10)] == [2, 3]


async def test_the_snapshot_of_an_unknown_campaign_is_empty_at_revision_0(db: Database) -> None:
    snap = await db.changelog.snapshot("never-watched")
    assert (snap.revision, snap.rows) == (0, [])


async def test_custom_extractor(db_url: str) -> None:
    def extractor(r: dict) -> tuple[str | None, str | None]:
        return r.get("state"), r.get("outcome")

    async with Database(db_url, row_extractor=extractor) as db:
        await db.changelog.commit_poll(K, [{"id": "a", "state": "x"}], full_sweep=True, now=1)
        res = await db.changelog.commit_poll(
            K, [{"id": "a", "state": "y", "outcome": "ok"}], full_sweep=True, now=2
        )
        (c,) = res.changes
        assert (c.status, c.result, c.prev_status, c.prev_result) == ("y", "ok", "x", None)


async def test_portable_write_path_matches_fast_path(db: Database) -> None:
    """The Core bulk path (PostgreSQL's) gives the same results as the SQLite fast path."""
    log = ChangeLog(db.engines, epoch=db.changelog.epoch, fast_bulk=False)
    await log.commit_poll(K, [row("a"), row("b")], full_sweep=True, now=1.0)
    await log.commit_poll(K, [row("a", "calling")], full_sweep=True, now=2.0)
    changes = await log.changes_since(K, 0, limit=100)
    assert [(c.revision, c.kind, c.row_id) for c in changes] == [
        (1, "added", "a"),
        (1, "added", "b"),
        (2, "modified", "a"),
        (2, "removed", "b"),
    ]
    assert (await log.snapshot(K)).rows == [row("a", "calling")]


async def test_large_campaign_commits(db: Database) -> None:
    """A large initial commit, a 1% partial poll, a sweep and a snapshot (the 100k-row
    timings are ``make bench``'s watch suite)."""
    log = db.changelog
    n = 20_000
    rows = [row(f"r{i:06d}", extra={"name": f"Contact {i}"}) for i in range(n)]
    res = await log.commit_poll(K, rows, full_sweep=True, now=1.0)
    assert res.revision == 1 and len(res.changes) == n

    # a partial poll of 10% of the rows, 1% of all of which changed
    active = [row(f"r{i:06d}", extra={"name": f"Contact {i}"}) for i in range(0, n, 10)]
    for i in range(0, len(active), 10):
        active[i] = row(active[i]["id"], "calling", extra={"name": "x"})
    res = await log.commit_poll(K, active, full_sweep=False, now=2.0)
    assert res.revision == 2 and len(res.changes) == n // 100

    res = await log.commit_poll(K, rows, full_sweep=True, now=3.0)
    assert len(res.changes) == n // 100  # those rows changed back

    snap = await log.snapshot(K)
    assert len(snap.rows) == n


async def test_a_modified_change_names_the_paths_that_changed(db: Database) -> None:
    log = db.changelog
    await log.commit_poll(K, [row("a", note="x"), row("b")], full_sweep=True, now=1.0)
    res = await log.commit_poll(
        K, [row("a", "calling", note="x"), row("b", note="y")], full_sweep=True, now=2.0
    )
    by_row = {c.row_id: c.changed for c in res.changes}
    assert by_row == {"a": ("call.status",), "b": ("note",)}
    logged = await log.changes_since(K, 1)
    assert {c.row_id: c.changed for c in logged} == by_row  # the same, read back
    first = await log.changes_since(K, 0)
    assert [c.changed for c in first if c.kind == "added"] == [None, None]


def test_changed_paths_compare_objects_key_by_key_and_lists_whole() -> None:
    from gateway.store._watch_diff import changed_paths

    before = {"a": 1, "call": {"status": "queued", "attempts": [1], "x": {"y": 1}}}
    after = {"a": 1, "call": {"status": "calling", "attempts": [1, 2], "x": {"y": 1}}, "n": 0}
    assert changed_paths(before, after) == ["call.attempts", "call.status", "n"]
    assert changed_paths(before, before) == []
    assert changed_paths({"a": {"b": 1}}, {"a": 2}) == ["a"]


async def test_replicas_committing_one_campaign_take_turns(db_url: str) -> None:
    """Two writers of one campaign (replicas on PostgreSQL: a row lock in the commit;
    SQLite: one writer at a time) never lose, repeat or interleave a revision."""
    async with Database(db_url) as a, Database(db_url) as b:

        async def polls(db: Database, tag: str) -> list[int]:
            revisions = []
            for i in range(15):
                rows = [row("shared", f"{tag}{i}"), row(f"{tag}-{i}")]
                res = await db.changelog.commit_poll(K, rows, full_sweep=False, now=float(i))
                revisions.append(res.revision)
            return revisions

        mine, theirs = await asyncio.gather(polls(a, "a"), polls(b, "b"))
        final = await a.changelog.state(K)
        changes = await b.changelog.changes_since(K, 0, limit=10_000)
    assert final.current_revision == 30  # every poll changed something: 30 revisions
    assert sorted(mine + theirs) == list(range(1, 31))
    assert sorted({c.revision for c in changes}) == list(range(1, 31))
    # Each revision's "previous status" is the one the revision before it wrote.
    shared = [c for c in changes if c.row_id == "shared"]
    for before, after in zip(shared, shared[1:], strict=False):
        assert after.prev_status == before.status


async def test_replicas_registering_a_campaign_at_once(db_url: str) -> None:
    async with Database(db_url) as a, Database(db_url) as b:
        results = await asyncio.gather(
            a.changelog.commit_poll("new", [row("x")], full_sweep=True, now=1.0),
            b.changelog.commit_poll("new", [row("x")], full_sweep=True, now=1.0),
            a.changelog.bind_incarnation("new", "inc-1"),
        )
        assert sorted(r.revision for r in results[:2]) == [1, 1]  # the second: no change
        assert (await b.changelog.snapshot("new")).rows == [row("x")]


async def test_replicas_compacting_while_committing(db_url: str) -> None:
    async with Database(db_url) as a, Database(db_url) as b:
        for key in ("k1", "k2", "k3"):
            await a.changelog.commit_poll(key, [row("r")], full_sweep=True, now=1.0)

        async def commits(db: Database) -> None:
            for i in range(10):
                for key in ("k3", "k1", "k2"):
                    await db.changelog.commit_poll(key, [row("r", f"s{i}")], full_sweep=True,
                                                   now=10.0 + i)

        await asyncio.gather(
            commits(a), a.changelog.compact(older_than=5.0), b.changelog.compact(older_than=5.0),
            b.changelog.compact(older_than=12.0),
        )
        for key in ("k1", "k2", "k3"):
            state = await b.changelog.state(key)
            assert state.current_revision == 11 and state.compacted_revision >= 1
