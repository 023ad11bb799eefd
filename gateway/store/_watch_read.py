"""The read side of the change log: a snapshot in pages, and the changes after a revision.

Split from ``_changelog`` to keep modules small. Both read in ONE read transaction
(a WAL snapshot on SQLite, REPEATABLE READ on PostgreSQL), so a snapshot's rows are
exactly its revision's and a page of changes never stops inside a revision.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator

from sqlalchemy import and_, select

from ._base import Engines
from ._schema import watch_campaigns, watch_changes, watch_rows
from ._watch_types import Change, Extractor, RevisionAhead, RevisionCompacted, Snapshot

__all__ = ["changes_since", "iter_snapshot"]


async def iter_snapshot(
    engines: Engines, campaign_key: str, *, page_size: int | None
) -> AsyncGenerator[Snapshot, None]:
    """``ChangeLog.iter_snapshot``."""
    w = watch_rows.c
    async with engines.read.connect() as conn, conn.begin():
        revision = await conn.scalar(
            select(watch_campaigns.c.current_revision).where(
                watch_campaigns.c.campaign_key == campaign_key
            )
        )
        revision = int(revision or 0)
        after: str | None = None
        while True:
            stmt = select(w.row_id, w.row).where(w.campaign_key == campaign_key)
            if after is not None:
                stmt = stmt.where(w.row_id > after)
            stmt = stmt.order_by(w.row_id)
            if page_size is not None:
                stmt = stmt.limit(page_size)
            res = (await conn.execute(stmt)).all()
            if res:
                yield Snapshot(revision, [json.loads(r[1]) for r in res])
                after = res[-1][0]
            if page_size is None or len(res) < page_size:
                if not res and after is None:
                    yield Snapshot(revision, [])
                return


async def changes_since(
    engines: Engines, extract: Extractor, campaign_key: str, revision: int, *, limit: int
) -> list[Change]:
    """``ChangeLog.changes_since``."""
    if limit < 1:
        raise ValueError("limit must be >= 1")
    c = watch_changes.c
    cols = select(
        c.revision,
        c.seq,
        c.row_id,
        c.kind,
        c.row,
        c.prev_status,
        c.prev_result,
        c.committed_at,
        c.changed,
    ).where(c.campaign_key == campaign_key)
    async with engines.read.connect() as conn, conn.begin():
        head = (
            await conn.execute(
                select(
                    watch_campaigns.c.current_revision, watch_campaigns.c.compacted_revision
                ).where(watch_campaigns.c.campaign_key == campaign_key)
            )
        ).first()
        current, compacted = (int(head[0]), int(head[1])) if head else (0, 0)
        if revision < compacted:
            raise RevisionCompacted(compacted)
        if revision > current:
            raise RevisionAhead(revision, current)
        if revision == current:
            return []
        rows = list(
            (
                await conn.execute(
                    cols.where(c.revision > revision).order_by(c.revision, c.seq).limit(limit)
                )
            ).all()
        )
        if len(rows) == limit:
            last_rev, last_seq = rows[-1][0], rows[-1][1]
            rows += (
                await conn.execute(
                    cols.where(and_(c.revision == last_rev, c.seq > last_seq)).order_by(c.seq)
                )
            ).all()
    out: list[Change] = []
    for r in rows:
        row = json.loads(r[4])
        status, result = extract(row)
        changed = None if r[8] is None else tuple(json.loads(r[8]))
        out.append(Change(
            int(r[0]), int(r[1]), r[2], r[3], row, status, result, r[5], r[6], r[7], changed
        ))
    return out
