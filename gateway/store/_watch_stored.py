"""What a change-log commit compares a poll against: the stored rows' hashes and
statuses, and the last stored text of rows that vanished (their "removed" changes).

Reads only, inside the commit's write transaction (so nothing moves in between).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from ._base import MAX_PARAMS, chunked
from ._schema import watch_rows
from ._watch_diff import Compared, PollDiff, Prepared, changed_paths
from ._watch_types import Change

__all__ = ["Stored", "append_removals", "mark_changed_paths", "stored_rows"]

# row_id -> (row_hash, fast_hash, status, result)
Stored = dict[str, tuple[str, bytes | None, str | None, str | None]]
_CHUNK = MAX_PARAMS - 1  # ids per IN (...), beside the campaign key
_THREAD_THRESHOLD = 2_000  # modified rows diffed in a worker thread beyond this


async def stored_rows(
    conn: AsyncConnection, diff: PollDiff, observed: Prepared, current: int
) -> Stored:
    """row_id -> (row_hash, fast_hash, status, result) of the rows the diff compares:
    every stored row on a full sweep, else the observed ones."""
    w = watch_rows.c
    key = diff.campaign_key
    stored: Stored = {}
    cols = select(w.row_id, w.row_hash, w.fast_hash, w.status, w.result)
    if diff.full_sweep:
        res = await conn.execute(cols.where(w.campaign_key == key))
        stored = {r[0]: (r[1], r[2], r[3], r[4]) for r in res}
    elif current > 0:  # nothing stored yet for a brand-new campaign
        for part in chunked(list(observed), _CHUNK):
            res = await conn.execute(cols.where(w.campaign_key == key, w.row_id.in_(part)))
            stored.update((r[0], (r[1], r[2], r[3], r[4])) for r in res)
    return stored

async def append_removals(
    conn: AsyncConnection,
    campaign_key: str,
    revision: int,
    stored: Stored,
    removed_ids: list[str],
    d: Compared,
    now: float,
) -> None:
    """Append a "removed" change (with the row as last stored) per vanished row."""
    w = watch_rows.c
    for part in chunked(removed_ids, _CHUNK):
        res = await conn.execute(
            select(w.row_id, w.row).where(w.campaign_key == campaign_key, w.row_id.in_(part))
        )
        last_rows = {r[0]: r[1] for r in res}
        for rid in part:
            last = stored[rid][2:]  # (status, result), also the "previous" ones
            row = json.loads(last_rows[rid])
            d.changes.append(
                Change(revision, len(d.changes), rid, "removed", row, *last, *last, now)
            )
            d.texts.append(last_rows[rid])


async def mark_changed_paths(conn: AsyncConnection, campaign_key: str, d: Compared) -> None:
    """Give each 'modified' change the paths that differ from the row as last stored,
    so a watch with a read mask can leave out changes of fields it does not show."""
    modified = [i for i, c in enumerate(d.changes) if c.kind == "modified"]
    if not modified:
        return
    w = watch_rows.c
    before: dict[str, str] = {}
    for part in chunked([d.changes[i].row_id for i in modified], _CHUNK):
        res = await conn.execute(
            select(w.row_id, w.row).where(w.campaign_key == campaign_key, w.row_id.in_(part))
        )
        before.update((r[0], r[1]) for r in res)

    def diff() -> None:
        for i in modified:
            change = d.changes[i]
            paths = changed_paths(json.loads(before[change.row_id]), change.row)
            d.changes[i] = dataclasses.replace(change, changed=tuple(paths))

    if len(modified) > _THREAD_THRESHOLD:
        await asyncio.to_thread(diff)
    else:
        diff()
