"""Bulk writes of the watch change log.

Two implementations of the same writes: driver-level ``executemany`` with
positional tuples and SQLite's placeholders (the fast path: Core executemany spends
~10 µs per row building parameter dicts, most of a 100k-row commit), and a portable
Core version, which PostgreSQL takes (asyncpg's executemany for the UPDATEs,
SQLAlchemy's multi-row VALUES batches for the INSERTs).

Row tuples are ``(campaign_key, row_id, row, row_hash, fast_hash, status, result,
revision)``; rehash tuples ``(fast_hash, campaign_key, row_id)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, delete, insert, update

from ._base import MAX_PARAMS, chunked
from ._schema import watch_changes, watch_rows

__all__ = ["INSERT_CHANGE", "INSERT_ROW", "REHASH_ROW", "UPDATE_ROW", "write_changes"]

# Driver-level SQL for the SQLite fast path (identifiers quoted: ROW is a keyword).
INSERT_ROW = (
    'INSERT INTO watch_rows ("campaign_key", "row_id", "row", "row_hash", "fast_hash", '
    '"status", "result", "revision_last_changed") VALUES (?, ?, ?, ?, ?, ?, ?, ?)'
)
UPDATE_ROW = (
    'UPDATE watch_rows SET "row" = ?, "row_hash" = ?, "fast_hash" = ?, "status" = ?, '
    '"result" = ?, "revision_last_changed" = ? WHERE "campaign_key" = ? AND "row_id" = ?'
)
REHASH_ROW = 'UPDATE watch_rows SET "fast_hash" = ? WHERE "campaign_key" = ? AND "row_id" = ?'
INSERT_CHANGE = (
    'INSERT INTO watch_changes ("campaign_key", "revision", "seq", "row_id", "kind", "row", '
    '"prev_status", "prev_result", "committed_at", "changed") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'
)

_ROW_KEYS = ("k", "rid", "row", "h", "f", "s", "r", "rev")
_CHANGE_KEYS = ("k", "rev", "seq", "rid", "kind", "row", "ps", "pr", "at", "ch")


async def write_changes(
    conn: Any,
    campaign_key: str,
    *,
    fast_bulk: bool,
    added: list[tuple[Any, ...]],
    modified: list[tuple[Any, ...]],
    removed_ids: Sequence[str],
    rehashed: list[tuple[Any, ...]],
    change_params: list[tuple[Any, ...]],
) -> None:
    """Apply one poll's row writes and append its change events (may all be empty)."""
    w = watch_rows.c
    for part in chunked(removed_ids, MAX_PARAMS - 1):
        await conn.execute(
            delete(watch_rows).where(w.campaign_key == campaign_key, w.row_id.in_(part))
        )
    if fast_bulk:
        if added:
            await conn.exec_driver_sql(INSERT_ROW, added)
        if modified:
            await conn.exec_driver_sql(UPDATE_ROW, [(*p[2:], p[0], p[1]) for p in modified])
        if rehashed:
            await conn.exec_driver_sql(REHASH_ROW, rehashed)
        if change_params:
            await conn.exec_driver_sql(INSERT_CHANGE, change_params)
        return
    await _write_core(conn, added, modified, rehashed, change_params)


async def _write_core(
    conn: Any,
    added: list[tuple[Any, ...]],
    modified: list[tuple[Any, ...]],
    rehashed: list[tuple[Any, ...]],
    change_params: list[tuple[Any, ...]],
) -> None:
    """Portable (non-qmark dialects) version of the bulk writes."""
    w = watch_rows.c
    by_key = (w.campaign_key == bindparam("k"), w.row_id == bindparam("rid"))
    if added:
        await conn.execute(
            insert(watch_rows).values(
                campaign_key=bindparam("k"),
                row_id=bindparam("rid"),
                row=bindparam("row"),
                row_hash=bindparam("h"),
                fast_hash=bindparam("f"),
                status=bindparam("s"),
                result=bindparam("r"),
                revision_last_changed=bindparam("rev"),
            ),
            [dict(zip(_ROW_KEYS, p, strict=True)) for p in added],
        )
    if modified:
        await conn.execute(
            update(watch_rows)
            .where(*by_key)
            .values(
                row=bindparam("row"),
                row_hash=bindparam("h"),
                fast_hash=bindparam("f"),
                status=bindparam("s"),
                result=bindparam("r"),
                revision_last_changed=bindparam("rev"),
            ),
            [dict(zip(_ROW_KEYS, p, strict=True)) for p in modified],
        )
    if rehashed:
        await conn.execute(
            update(watch_rows).where(*by_key).values(fast_hash=bindparam("f")),
            [dict(zip(("f", "k", "rid"), p, strict=True)) for p in rehashed],
        )
    if change_params:
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
                changed=bindparam("ch"),
            ),
            [dict(zip(_CHANGE_KEYS, p, strict=True)) for p in change_params],
        )
