"""A fresh PostgreSQL database per test, or a skip saying why there is none.

Used by the store's fixtures and by any test that needs a real PostgreSQL (e.g.
several gateway processes on one database)::

    from tests.store._pg import fresh_postgres_url

    async with fresh_postgres_url() as url:   # postgresql+asyncpg://.../gw_test_<hex>
        async with Database(url) as db: ...

The server is the one at ``GATEWAY_TEST_POSTGRES_URL`` (default
``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``, an admin connection that
may CREATE DATABASE). Each use gets a database nobody else uses while it runs, and
empty when it starts (connections left over are ended, the ``public`` schema
recreated), so tests never see each other's data. Without a reachable server the test is skipped with the reason, or
fails when ``GATEWAY_REQUIRE_POSTGRES=1`` (CI, where a silent skip would hide a gap).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from sqlalchemy.engine import make_url

__all__ = [
    "ADMIN_URL_ENV",
    "DEFAULT_ADMIN_URL",
    "REQUIRE_ENV",
    "admin_url",
    "fresh_postgres_url",
    "postgres_unavailable",
    "require_postgres",
]

ADMIN_URL_ENV = "GATEWAY_TEST_POSTGRES_URL"
REQUIRE_ENV = "GATEWAY_REQUIRE_POSTGRES"
DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
_CONNECT_TIMEOUT = 3.0

# Databases this process created, and those of them free for the next test.
_created: set[str] = set()
_free: list[str] = []

# The probe's verdict, once per test process: a down server costs one timeout, not one
# per test. None = not probed yet; "" = reachable; else why not.
_verdict: str | None = None


def admin_url() -> str:
    return os.environ.get(ADMIN_URL_ENV) or DEFAULT_ADMIN_URL


def _dsn(url: str) -> str:
    """asyncpg's DSN for a SQLAlchemy URL (asyncpg does not know ``+asyncpg``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin() -> asyncpg.Connection:
    return await asyncpg.connect(_dsn(admin_url()), timeout=_CONNECT_TIMEOUT)


async def postgres_unavailable() -> str | None:
    """Why no PostgreSQL test can run (None: the server is reachable)."""
    global _verdict
    if _verdict is None:
        shown = make_url(admin_url()).render_as_string(hide_password=True)
        try:
            conn = await _admin()
        except Exception as exc:  # any failure to connect means: no server for tests
            _verdict = (
                f"PostgreSQL not reachable at {shown} ({ADMIN_URL_ENV}): "
                f"{type(exc).__name__}: {exc}"
            )
        else:
            await conn.close()
            _verdict = ""
    return _verdict or None


async def require_postgres() -> None:
    """Skip the calling test when no server is reachable, saying why; fail instead
    under ``GATEWAY_REQUIRE_POSTGRES=1``."""
    reason = await postgres_unavailable()
    if reason is None:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(f"{reason}; set {REQUIRE_ENV}=1 to fail instead")


async def _create() -> str:
    name = f"gw_test_{secrets.token_hex(6)}"
    conn = await _admin()
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    if not _created:
        atexit.register(_drop_all)
    _created.add(name)
    return name


async def _drop(name: str) -> None:
    conn = await _admin()
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
    _created.discard(name)


async def _wipe(url: str) -> None:
    """Make a used database empty again: end whatever still uses it, then replace the
    one schema the store writes to (what CREATE DATABASE from template1 gives)."""
    conn = await asyncpg.connect(_dsn(url), timeout=_CONNECT_TIMEOUT)
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        # As template1 has it since PostgreSQL 14 (older servers fail here, and the
        # database is dropped instead of recycled).
        await conn.execute(
            "DROP SCHEMA public CASCADE; "
            "CREATE SCHEMA public AUTHORIZATION pg_database_owner; "
            "GRANT USAGE ON SCHEMA public TO PUBLIC"
        )
    finally:
        await conn.close()


def _drop_all() -> None:
    """At exit: drop every database this process created (they outlive no test run)."""

    async def drop() -> None:
        for name in list(_created):
            try:
                await _drop(name)
            except Exception:  # the server went away: nothing left to tidy
                return

    asyncio.run(drop())


@asynccontextmanager
async def fresh_postgres_url() -> AsyncIterator[str]:
    """Yield the SQLAlchemy URL of an empty database of its own, for the duration.

    Skips the calling test when no server is reachable (fails under
    ``GATEWAY_REQUIRE_POSTGRES=1``). Why databases are recycled: CREATE DATABASE
    costs ~0.4 s, emptying a used one ~30 ms; a database is only handed out again
    once it is empty, and all are dropped when the process exits.
    """
    await require_postgres()
    name = _free.pop() if _free else await _create()
    url = make_url(admin_url()).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        try:
            await _wipe(url)
        except Exception:
            await _drop(name)  # cannot tell it is clean: never hand it out again
        else:
            _free.append(name)
