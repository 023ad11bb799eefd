"""Turn a database at the head revision into what a gateway from before Alembic left.

The hand-rolled history (``meta.schema_version`` 1..5) only ever added columns and
indexes to the v5 layout's tables, so dropping what came later gives a faithful old
file: v1 had no ``terminal``, no retention indexes, no ``fast_hash``, ``changed``
or ``incarnation``; version 0 is a database with tables but no version row. Works on
both backends (plain DDL through SQLAlchemy).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

__all__ = ["make_legacy"]

# (version that introduced it, statement undoing it)
_LATER = [
    (2, "DROP INDEX ix_idempotency_updated_at"),
    (2, "DROP INDEX ix_watch_changes_committed_at"),
    (2, "ALTER TABLE watch_campaigns DROP COLUMN terminal"),
    (3, "ALTER TABLE watch_rows DROP COLUMN fast_hash"),
    (4, "ALTER TABLE watch_changes DROP COLUMN changed"),
    (5, "ALTER TABLE watch_campaigns DROP COLUMN incarnation"),
]


async def make_legacy(url: str, version: int) -> None:
    """Rewrite the (closed) database at ``url`` into hand-rolled schema ``version``."""
    statements = [
        "DROP TABLE alembic_version",
        "ALTER TABLE idempotency DROP COLUMN owner",
        "ALTER TABLE idempotency DROP COLUMN heartbeat_at",
        "ALTER TABLE watch_campaigns DROP COLUMN lease_owner",
        "ALTER TABLE watch_campaigns DROP COLUMN lease_epoch",
        "ALTER TABLE watch_campaigns DROP COLUMN lease_expires_at",
        "ALTER TABLE watch_campaigns DROP COLUMN degraded_detail",
        *(sql for introduced, sql in _LATER if introduced > version),
        "DELETE FROM meta WHERE key = 'schema_version'",
    ]
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for sql in statements:
                await conn.execute(text(sql))
            if version > 0:
                await conn.execute(
                    text("INSERT INTO meta (key, value) VALUES ('schema_version', :v)"),
                    {"v": str(version)},
                )
    finally:
        await engine.dispose()
