"""Database lifecycle: SQLite pragmas, schema creation, migrations, reopen."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.store import LATEST_VERSION, Database, SchemaTooNew, open_database, sqlite_url


async def test_wal_and_pragmas(db: Database) -> None:
    async with db.engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 5000


async def test_read_engine_is_query_only(db: Database) -> None:
    async with db.read_engine.connect() as conn:
        with pytest.raises(Exception, match="readonly|read-only|query_only"):
            await conn.execute(text("INSERT INTO meta (key, value) VALUES ('x', 'y')"))


async def test_fresh_database_is_latest_version(db: Database) -> None:
    assert await db.schema_version() == LATEST_VERSION
    assert await db.migrate() == LATEST_VERSION  # re-running is a no-op


async def test_migrates_v1_database(db_path: Path) -> None:
    async with Database(sqlite_url(db_path)):
        pass
    # Turn the file into what a v1 gateway wrote: no terminal column, no
    # retention indexes, schema_version 1.
    raw = sqlite3.connect(db_path)
    raw.executescript(
        """
        DROP INDEX ix_idempotency_updated_at;
        DROP INDEX ix_watch_changes_committed_at;
        ALTER TABLE watch_campaigns DROP COLUMN terminal;
        ALTER TABLE watch_campaigns DROP COLUMN incarnation;
        ALTER TABLE watch_changes DROP COLUMN changed;
        UPDATE meta SET value = '1' WHERE key = 'schema_version';
        INSERT INTO watch_campaigns VALUES ('c1', 3, 0, 'e', NULL);
        """
    )
    raw.close()

    async with Database(sqlite_url(db_path)) as db:
        assert await db.schema_version() == LATEST_VERSION
        state = await db.changelog.state("c1")
        assert (state.current_revision, state.terminal) == (3, False)  # data kept
    raw = sqlite3.connect(db_path)
    indexes = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    columns = {r[1] for r in raw.execute("PRAGMA table_info(watch_campaigns)")}
    raw.close()
    assert {"ix_idempotency_updated_at", "ix_watch_changes_committed_at"} <= indexes
    assert {"terminal", "incarnation"} <= columns


async def test_unversioned_database_with_tables_is_migrated(db_path: Path) -> None:
    raw = sqlite3.connect(db_path)
    raw.executescript(
        """
        CREATE TABLE meta (key VARCHAR PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE watch_campaigns (campaign_key VARCHAR PRIMARY KEY,
            current_revision INTEGER NOT NULL, compacted_revision INTEGER NOT NULL,
            epoch VARCHAR NOT NULL, last_polled_at FLOAT);
        """
    )
    raw.close()
    async with Database(sqlite_url(db_path)) as db:
        assert await db.schema_version() == LATEST_VERSION
        await db.changelog.mark_terminal("x")  # column exists now


async def test_newer_schema_is_refused(db_path: Path) -> None:
    async with Database(sqlite_url(db_path)):
        pass
    raw = sqlite3.connect(db_path)
    raw.execute(
        "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(LATEST_VERSION + 1),)
    )
    raw.commit()
    raw.close()
    with pytest.raises(SchemaTooNew):
        await open_database(sqlite_url(db_path))


async def test_open_database_and_aclose(db_path: Path) -> None:
    db = await open_database(sqlite_url(db_path))
    try:
        assert db.tenants.tenant_of("k")
    finally:
        await db.aclose()
    await db.aclose()  # idempotent


def test_memory_sqlite_rejected() -> None:
    with pytest.raises(ValueError):
        Database("sqlite+aiosqlite:///:memory:")


def test_not_started_raises(db_path: Path) -> None:
    database = Database(sqlite_url(db_path))
    with pytest.raises(RuntimeError):
        _ = database.campaigns
