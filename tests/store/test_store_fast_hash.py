"""The change log's fast hash and page-by-page polls (schema v3).

Why: a poll now compares rows by a cheap digest of their decoded form and only
canonicalises rows whose digest differs. That must never hide a change (equal
fast hashes mean equal rows), never invent one (rows from before v3, reordered
keys: the canonical hash decides, the fast hash is just stored), and feeding a
poll page by page must give exactly what one ``commit_poll`` gives.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any

from sqlalchemy import text

from gateway.store import Database, head_revision
from gateway.store._watch_diff import Shared, fast_digest
from tests.store._legacy import make_legacy

K = "camp_1"
ASSISTANT = {"id": "asst_1", "prompt": "Be nice.", "voice": {"id": "v1", "speed": 1.0}}


def row(rid: str, status: str = "queued_for_calling", **call: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "phone_number": "+33600000000",
        "call": {"status": status, "assistant": copy.deepcopy(ASSISTANT), **call},
    }


def odd_row(rid: str, status: str = "queued_for_calling") -> dict[str, Any]:
    return {**row(rid, status), "input_data": OrderedDict(first_name="Ada")}


async def fast_hashes(db: Database) -> dict[str, bytes | None]:
    async with db.read_engine.connect() as conn:
        rows = await conn.execute(text("SELECT row_id, fast_hash FROM watch_rows"))
        return {r[0]: None if r[1] is None else bytes(r[1]) for r in rows}


def test_fast_digest_tells_values_apart() -> None:
    shared = Shared()
    base = fast_digest(row("a"), shared)
    assert fast_digest(row("a"), shared) == base  # same value, other objects
    assert fast_digest(row("a", attempts=1), shared) != fast_digest(row("a", attempts=1.0), shared)
    assert fast_digest(row("a", done=True), shared) != fast_digest(row("a", done=1), shared)
    other = row("a")
    other["call"]["assistant"]["prompt"] = "Be brief."
    assert fast_digest(other, shared) != base  # a change inside the shared assistant
    assert fast_digest(row("a"), shared) == base  # and back (the memo follows)
    # Not marshallable (a dict subclass inside): b"", i.e. compared canonically.
    assert fast_digest(odd_row("a"), shared) == b""


async def test_reordered_keys_are_no_change_and_get_a_fast_hash(db: Database) -> None:
    log = db.changelog
    await log.commit_poll(K, [row("a"), row("b")], full_sweep=True, now=1.0)
    before = await fast_hashes(db)
    assert all(before.values())
    a = row("a")
    reordered = {"call": a["call"], "phone_number": a["phone_number"], "id": "a"}
    for full in (False, True):
        res = await log.commit_poll(K, [reordered, row("b")], full_sweep=full, now=2.0)
        assert res.changes == [] and res.revision == 1
    after = await fast_hashes(db)
    assert after["a"] != before["a"] and after["b"] == before["b"]  # rehashed, not rewritten


async def test_rows_from_before_v3_need_no_rewrite(db: Database) -> None:
    log = db.changelog
    rows = [row(f"r{i}") for i in range(5)]
    await log.commit_poll(K, rows, full_sweep=True, now=1.0)
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE watch_rows SET fast_hash = NULL"))  # what v2 left
    res = await log.commit_poll(K, rows, full_sweep=True, now=2.0)
    assert res.changes == []  # no spurious events
    assert all((await fast_hashes(db)).values())  # filled on the way
    res = await log.commit_poll(K, [row("r0", "calling")], full_sweep=False, now=3.0)
    assert [(c.kind, c.row_id, c.prev_status) for c in res.changes] == [
        ("modified", "r0", "queued_for_calling")
    ]


async def test_change_inside_the_assistant_is_a_change(db: Database) -> None:
    log = db.changelog
    await log.commit_poll(K, [row("a"), row("b")], full_sweep=True, now=1.0)
    b = row("b")
    b["call"]["assistant"]["voice"]["speed"] = 1.1
    res = await log.commit_poll(K, [row("a"), b, row("c")], full_sweep=False, now=2.0)
    assert [(c.kind, c.row_id) for c in res.changes] == [("modified", "b"), ("added", "c")]


async def test_paged_poll_equals_one_commit(db: Database) -> None:
    log = db.changelog
    await log.commit_poll(K, [row(f"r{i}") for i in range(6)], full_sweep=True, now=1.0)
    poll = log.start_poll(K, full_sweep=True)
    await log.observe(poll, [row("r0"), row("r1", "calling")])
    # A moving listing can repeat a row: its last observation wins, both ways.
    await log.observe(poll, [row("r1"), row("r2", "calling"), row("r3")])
    await log.observe(poll, [row("r2", "completed"), row("r3", "errored"), row("r4")])
    res = await log.commit(poll, now=2.0)  # r5 was not seen: removed
    got = {(c.kind, c.row_id, c.status) for c in res.changes}
    assert got == {
        ("modified", "r2", "completed"),
        ("modified", "r3", "errored"),
        ("removed", "r5", "queued_for_calling"),
    }
    assert res.revision == 2
    snap = {r["id"]: r["call"]["status"] for r in (await log.snapshot(K)).rows}
    assert snap == {"r0": "queued_for_calling", "r1": "queued_for_calling",
                    "r2": "completed", "r3": "errored", "r4": "queued_for_calling"}


async def test_unmarshallable_rows_still_diff(db: Database) -> None:
    log = db.changelog
    res = await log.commit_poll(K, [odd_row("a")], full_sweep=True, now=1.0)
    assert [c.kind for c in res.changes] == ["added"]
    assert (await log.commit_poll(K, [odd_row("a")], full_sweep=True, now=2.0)).changes == []
    res = await log.commit_poll(K, [odd_row("a", "calling")], full_sweep=True, now=3.0)
    assert [(c.kind, c.status) for c in res.changes] == [("modified", "calling")]


async def test_migrates_v2_database(db_url: str) -> None:
    async with Database(db_url) as db:
        await db.changelog.commit_poll(K, [row("a")], full_sweep=True, now=1.0)
    await make_legacy(db_url, 2)
    async with Database(db_url) as db:
        assert await db.schema_version() == head_revision()
        assert await fast_hashes(db) == {"a": None}  # data kept, hash not known yet
        res = await db.changelog.commit_poll(K, [row("a")], full_sweep=True, now=2.0)
        assert res.changes == []
        res = await db.changelog.commit_poll(K, [row("a", "calling")], full_sweep=True, now=3.0)
        assert [(c.kind, c.prev_status) for c in res.changes] == [("modified", "queued_for_calling")]
        assert (await fast_hashes(db))["a"]
