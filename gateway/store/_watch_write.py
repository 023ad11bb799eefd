"""Bulk writes of the watch change log.

Two implementations of the same writes: driver-level ``executemany`` with
positional tuples for SQLite (the fast path: Core executemany spends ~10 µs per
row building parameter dicts, most of a 100k-row commit), and a portable Core
version for dialects with other placeholder styles.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert, update

from ._schema import watch_changes, watch_rows

__all__ = ["INSERT_CHANGE", "INSERT_ROW", "UPDATE_ROW", "write_core"]

# Driver-level SQL for the SQLite fast path (identifiers quoted: ROW is a keyword).
INSERT_ROW = (
    'INSERT INTO watch_rows ("campaign_key", "row_id", "row", "row_hash", "status", '
    '"result", "revision_last_changed") VALUES (?, ?, ?, ?, ?, ?, ?)'
)
UPDATE_ROW = (
    'UPDATE watch_rows SET "row" = ?, "row_hash" = ?, "status" = ?, "result" = ?, '
    '"revision_last_changed" = ? WHERE "campaign_key" = ? AND "row_id" = ?'
)
INSERT_CHANGE = (
    'INSERT INTO watch_changes ("campaign_key", "revision", "seq", "row_id", "kind", "row", '
    '"prev_status", "prev_result", "committed_at") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'
)


async def write_core(
    conn: Any,
    added: list[tuple[Any, ...]],
    modified: list[tuple[Any, ...]],
    change_params: list[tuple[Any, ...]],
) -> None:
    """Portable (non-qmark dialects) version of the bulk writes."""
    w = watch_rows.c
    row_keys = ("k", "rid", "row", "h", "s", "r", "rev")
    if added:
        await conn.execute(
            insert(watch_rows).values(
                campaign_key=bindparam("k"),
                row_id=bindparam("rid"),
                row=bindparam("row"),
                row_hash=bindparam("h"),
                status=bindparam("s"),
                result=bindparam("r"),
                revision_last_changed=bindparam("rev"),
            ),
            [dict(zip(row_keys, p, strict=True)) for p in added],
        )
    if modified:
        await conn.execute(
            update(watch_rows)
            .where(w.campaign_key == bindparam("k"), w.row_id == bindparam("rid"))
            .values(
                row=bindparam("row"),
                row_hash=bindparam("h"),
                status=bindparam("s"),
                result=bindparam("r"),
                revision_last_changed=bindparam("rev"),
            ),
            [dict(zip(row_keys, p, strict=True)) for p in modified],
        )
    change_keys = ("k", "rev", "seq", "rid", "kind", "row", "ps", "pr", "at")
    await conn.execute(
        insert(watch_changes).values(
            campaign_key=bindparam("k"),
            revision=bindparam("rev"),
            seq=bindparam("seq"),
            row_id=bindparam("rid"),
            kind=bindparam("kind"),
            row=bindparam("row"),
            prev_status=bindparam("ps"),
            prev_result=bindparam("pr"),
            committed_at=bindparam("at"),
        ),
        [dict(zip(change_keys, p, strict=True)) for p in change_params],
    )
