"""Database lifecycle: engines per backend, reopen, and the errors an operator reads."""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from gateway.store import (
    Database,
    DatabaseUnavailable,
    display_url,
    migrate,
    normalize_url,
    open_database,
    sqlite_url,
)
from tests.store._pg import admin_url, fresh_postgres_url, require_postgres

SECRET = "s3cret-Pa55word"


async def test_wal_and_pragmas(sqlite_db: Database) -> None:
    async with sqlite_db.engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 5000


async def test_read_engine_is_read_only(db: Database) -> None:
    async with db.read_engine.connect() as conn:
        with pytest.raises(Exception, match="readonly|read-only|query_only"):
            await conn.execute(text("INSERT INTO meta (key, value) VALUES ('x', 'y')"))


async def test_postgresql_reads_are_repeatable_read() -> None:
    """Snapshots and changes_since read several statements: one snapshot for all (SQLite
    readers get that from WAL), in read-only transactions; writes read committed."""
    async with fresh_postgres_url() as url, Database(url) as db:
        async with db.read_engine.connect() as conn, conn.begin():
            level = (await conn.execute(text("SHOW transaction_isolation"))).scalar()
            read_only = (await conn.execute(text("SHOW transaction_read_only"))).scalar()
        assert (level, read_only) == ("repeatable read", "on")
        async with db.engine.connect() as conn, conn.begin():
            level = (await conn.execute(text("SHOW transaction_isolation"))).scalar()
        assert level == "read committed"


async def test_open_database_and_aclose(db_url: str) -> None:
    db = await open_database(db_url)
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


def test_unsupported_database_is_refused_without_its_password() -> None:
    with pytest.raises(ValueError) as err:
        Database(f"mysql+aiomysql://gw:{SECRET}@db.example/gw")
    assert SECRET not in str(err.value) and "***" in str(err.value)


def test_urls_without_an_async_driver_get_one() -> None:
    assert normalize_url("postgresql://u:p@h/d") == "postgresql+asyncpg://u:p@h/d"
    assert normalize_url("postgres://u@h/d") == "postgresql+asyncpg://u@h/d"
    assert normalize_url("sqlite:////tmp/x.db") == "sqlite+aiosqlite:////tmp/x.db"
    assert normalize_url("postgresql+asyncpg://u@h/d") == "postgresql+asyncpg://u@h/d"


def test_shown_urls_hide_the_password() -> None:
    url = f"postgresql+asyncpg://gw:{SECRET}@db.example:5432/gw"
    assert display_url(url) == "postgresql+asyncpg://gw:***@db.example:5432/gw"
    assert SECRET not in repr(Database(url)) and SECRET not in Database(url).url
    assert SECRET not in display_url(f"not a url {SECRET}")


def _assert_one_clean_line(exc: BaseException) -> None:
    message = str(exc)
    assert "\n" not in message and message.startswith("cannot reach the database at ")
    everything = "".join(traceback.format_exception(exc))  # causes included
    assert SECRET not in everything


async def test_unreachable_postgresql_is_database_unavailable() -> None:
    # Port 1 on localhost: refused at once, nothing listens there.
    url = f"postgresql+asyncpg://gw:{SECRET}@127.0.0.1:1/gw"
    with pytest.raises(DatabaseUnavailable) as err:
        async with Database(url, connect_timeout=2):
            pass
    _assert_one_clean_line(err.value)
    assert "postgresql+asyncpg://gw:***@127.0.0.1:1/gw" in str(err.value)
    with pytest.raises(DatabaseUnavailable) as err:
        await migrate(url, connect_timeout=2)
    _assert_one_clean_line(err.value)


async def test_missing_database_is_database_unavailable(backend: str, tmp_path: Path) -> None:
    if backend == "sqlite":
        url, cause = sqlite_url(tmp_path / "missing-dir" / "gateway.db"), "unable to open"
    else:
        await require_postgres()
        url = make_url(admin_url()).set(database="gw_never_created", password=SECRET)
        url, cause = url.render_as_string(hide_password=False), "does not exist"
    with pytest.raises(DatabaseUnavailable) as err:
        await open_database(url)
    _assert_one_clean_line(err.value)
    assert cause in str(err.value)
