"""Schema migrations (Alembic) on both backends: fresh databases, databases from before
Alembic (hand-rolled v0..v5), newer schemas, --no-migrate, and concurrent start-ups."""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from gateway.store import (
    Database,
    MigrationFailed,
    SchemaOutdated,
    SchemaTooNew,
    head_revision,
    migrate,
    open_database,
    sqlite_url,
)
from gateway.store._migrate import _config
from gateway.store._schema import metadata
from tests.store._legacy import make_legacy
from tests.store._pg import fresh_postgres_url
from tests.store.conftest import NewUrl

PROC = Path(__file__).with_name("_proc.py")
SECRET = "s3cret-Pa55word"


def _differences(conn: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(conn), metadata))


async def schema_differences(db: Database) -> list[Any]:
    """What Alembic's autogenerate would change to make the database the model."""
    async with db.engine.connect() as conn:
        return await conn.run_sync(_differences)


async def meta_value(db: Database, key: str) -> str | None:
    async with db.read_engine.connect() as conn:
        value = await conn.scalar(text("SELECT value FROM meta WHERE key = :k"), {"k": key})
    return None if value is None else str(value)


async def execute(url: str, *statements: str) -> None:
    db = Database(url, migrate=False)
    try:
        async with db.engine.begin() as conn:
            for sql in statements:
                await conn.execute(text(sql))
    finally:
        await db.aclose()


async def test_fresh_database_is_at_head(db: Database) -> None:
    assert await db.schema_version() == head_revision() == "0004"
    assert await db.migrate() == head_revision()  # re-running is a no-op
    assert await db.check_schema() == head_revision()
    # An old (hand-rolled) gateway reads 6 > 5 and refuses, instead of migrating.
    assert await meta_value(db, "schema_version") == "6"


async def test_migrated_schema_is_the_model(db: Database) -> None:
    """The history and ``_schema`` describe the same tables, columns and indexes."""
    assert await schema_differences(db) == []


async def test_history_goes_down_and_up_again(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(_config(c), "base"))
    assert await db.schema_version() is None
    assert await db.migrate() == head_revision()
    assert await schema_differences(db) == []


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4, 5])
async def test_databases_from_before_alembic_are_adopted(
    db_url: str, version: int, caplog: pytest.LogCaptureFixture
) -> None:
    async with Database(db_url) as db:
        await db.changelog.commit_poll("c1", [{"id": "r1"}], full_sweep=True, now=1.0)
        await db.campaigns.put("t", "c", {"id": "c"}, fetched_at=1.0)
        tenant = db.tenants.tenant_of("key")
    await make_legacy(db_url, version)

    caplog.set_level(logging.INFO, "gateway.store")
    async with Database(db_url) as db:
        assert await db.schema_version() == head_revision()
        assert await schema_differences(db) == []
        assert await meta_value(db, "schema_version") == "6"
        # Data kept: the log, the cache, the tenant secret.
        state = await db.changelog.state("c1")
        assert (state.current_revision, state.terminal) == (1, False)
        assert (await db.changelog.snapshot("c1")).rows == [{"id": "r1"}]
        assert await db.campaigns.get("t", "c") is not None
        assert db.tenants.tenant_of("key") == tenant
    assert [r.getMessage().split(": ", 1)[1] for r in caplog.records] == [
        f"schema migrated from v{version} to {head_revision()}"
    ]


async def test_unversioned_sqlite_file_with_some_tables_is_migrated(db_path: Path) -> None:
    raw = sqlite3.connect(db_path)
    raw.executescript(
        """
        CREATE TABLE meta (key VARCHAR PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE watch_campaigns (campaign_key VARCHAR PRIMARY KEY,
            current_revision INTEGER NOT NULL, compacted_revision INTEGER NOT NULL,
            epoch VARCHAR NOT NULL, last_polled_at FLOAT);
        INSERT INTO watch_campaigns VALUES ('c1', 3, 0, 'e', NULL);
        """
    )
    raw.close()
    async with Database(sqlite_url(db_path)) as db:
        assert await db.schema_version() == head_revision()
        # (Not compared with the model: SQLite lets these hand-made keys be NULL.)
        assert (await db.changelog.state("c1")).current_revision == 3
        await db.changelog.mark_terminal("c1")  # the column exists now


async def test_newer_revision_is_refused(db_url: str) -> None:
    async with Database(db_url):
        pass
    await execute(db_url, "UPDATE alembic_version SET version_num = '9999'")
    for opening in (open_database(db_url), open_database(db_url, migrate=False), migrate(db_url)):
        with pytest.raises(SchemaTooNew) as err:
            await opening
        message = str(err.value)
        assert "\n" not in message and "revision 9999" in message and "0004" in message


async def test_newer_hand_rolled_version_is_refused(db_url: str) -> None:
    async with Database(db_url):
        pass
    await execute(
        db_url,
        "DROP TABLE alembic_version",
        "UPDATE meta SET value = '7' WHERE key = 'schema_version'",
    )
    with pytest.raises(SchemaTooNew, match="v7"):
        await open_database(db_url)


async def test_no_migrate_only_checks(new_url: NewUrl) -> None:
    url = await new_url()
    with pytest.raises(SchemaOutdated) as err:
        await open_database(url, migrate=False)
    assert "\n" not in str(err.value) and "revox-gateway migrate" in str(err.value)
    probe = Database(url, migrate=False)
    try:
        assert await probe.schema_version() is None  # nothing was created
    finally:
        await probe.aclose()

    assert await migrate(url) == head_revision()
    assert await migrate(url) == head_revision()  # idempotent
    async with Database(url, migrate=False) as db:
        assert await db.schema_version() == head_revision()

    legacy = await new_url()
    async with Database(legacy):
        pass
    await make_legacy(legacy, 3)
    with pytest.raises(SchemaOutdated, match="v3"):
        await open_database(legacy, migrate=False)


async def test_concurrent_start_ups_migrate_once(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "gateway.store")
    dbs = [Database(db_url) for _ in range(6)]
    try:
        await asyncio.gather(*(db.start() for db in dbs))
        versions = {await db.schema_version() for db in dbs}
        epochs = {db.changelog.epoch for db in dbs}
        tenants = {db.tenants.tenant_of("key") for db in dbs}
    finally:
        await asyncio.gather(*(db.aclose() for db in dbs))
    assert versions == {head_revision()}
    assert len(epochs) == len(tenants) == 1  # one secret and one epoch were kept
    migrated = [r for r in caplog.records if "schema migrated" in r.getMessage()]
    assert len(migrated) == 1


async def test_concurrent_start_ups_of_processes_migrate_once(db_url: str) -> None:
    start_at = time.time() + 2.0  # after every interpreter has imported the store
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, str(PROC), "open", db_url, str(start_at),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    outputs = await asyncio.gather(*(p.communicate() for p in procs))
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    lines = [line for out, _ in outputs for line in out.decode().splitlines()]
    assert lines.count(f"open {head_revision()}") == 4
    assert sum("schema migrated from nothing" in line for line in lines) == 1


async def test_a_refused_migration_is_one_line() -> None:
    """A role that may connect but not create tables."""
    async with fresh_postgres_url() as url:
        role = f"gw_limited_{secrets.token_hex(4)}"
        await execute(
            url, f'CREATE ROLE "{role}" LOGIN', "REVOKE CREATE ON SCHEMA public FROM PUBLIC"
        )
        try:
            limited = make_url(url).set(username=role, password=SECRET)
            limited_url = limited.render_as_string(hide_password=False)
            with pytest.raises(MigrationFailed) as err:
                await open_database(limited_url)
            message = str(err.value)
            assert message.startswith("cannot migrate the database at ")
            assert "\n" not in message and "permission denied" in message
            assert SECRET not in "".join(traceback.format_exception(err.value))
        finally:
            await execute(url, f'DROP ROLE "{role}"')
