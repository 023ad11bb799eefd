"""Database lifecycle: engines, SQLite tuning, schema creation and migration.

``Database`` owns the engines and gives access to every repository
(``db.campaigns``, ``db.idempotency``, ``db.changelog``, ``db.tenants``).
Use it as ``async with Database(url) as db: ...`` or
``db = await open_database(url)`` ... ``await db.aclose()``.

SQLite specifics (the default backend):

* every connection gets WAL (readers never block the writer), synchronous=NORMAL
  (durable at checkpoints; in WAL a crash loses at most the last commits, never
  corrupts), busy_timeout and foreign_keys=ON, in a ``connect`` event;
* Python's sqlite3 "legacy" transaction handling is switched off
  (``isolation_level = None``) and SQLAlchemy emits BEGIN itself, as the
  SQLAlchemy SQLite docs recommend, so SELECTs really run inside transactions
  (needed for consistent snapshots) and DDL is transactional (migrations);
* writes go through a one-connection engine that begins with BEGIN IMMEDIATE:
  writers queue in-process instead of failing with SQLITE_BUSY on lock upgrade,
  and across processes busy_timeout applies. Reads use a separate small pool
  (``PRAGMA query_only``) and deferred BEGIN, so they run alongside a write.

``:memory:`` is rejected: each pooled connection would get its own empty
database. Tests use a file in a temp directory.

Any other SQLAlchemy async URL is accepted (one shared engine); the upserts
support SQLite and PostgreSQL only.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy import Connection, event, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from ._base import Engines, upsert
from ._campaigns import CampaignCache
from ._changelog import ChangeLog, Extractor, default_extractor
from ._idempotency import IdempotencyStore
from ._schema import LATEST_VERSION, MIGRATIONS, meta, metadata
from ._tenancy import TenantHasher, load_or_create_secret

__all__ = [
    "Database",
    "SchemaTooNew",
    "open_database",
    "sqlite_url",
]

SCHEMA_VERSION_KEY = "schema_version"
WATCH_EPOCH_KEY = "watch_epoch"

_Repo = TypeVar("_Repo")


class SchemaTooNew(RuntimeError):
    """The database was written by a newer gateway; refuse rather than downgrade."""


def sqlite_url(path: str | Path) -> str:
    """``sqlite+aiosqlite:///<absolute path>`` for a database file."""
    return f"sqlite+aiosqlite:///{Path(path).expanduser().resolve()}"


def _install_sqlite_hooks(
    engine: AsyncEngine, *, begin: str | None, busy_ms: int, query_only: bool
) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Disable the sqlite3 module's own BEGIN handling; see module docstring.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
            cur.execute("PRAGMA foreign_keys=ON")
            if query_only:
                cur.execute("PRAGMA query_only=ON")
        finally:
            cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # store_no_begin: single-statement hot-path reads skip BEGIN/COMMIT.
        if begin is not None and not conn.get_execution_options().get("store_no_begin"):
            conn.exec_driver_sql(begin)


class Database:
    """Owns the engines and the repositories of one gateway database."""

    def __init__(
        self,
        url: str,
        *,
        tenant_secret: bytes | str | None = None,
        pending_timeout: float | None = 600.0,
        busy_timeout: float = 5.0,
        row_extractor: Extractor = default_extractor,
        campaign_memo_size: int = 4096,
        read_pool_size: int = 4,
        clock: Callable[[], float] = time.time,
        echo: bool = False,
    ) -> None:
        """``tenant_secret``: e.g. from env GATEWAY_TENANT_SECRET (read by the caller);
        None = generate once and keep in the database. ``clock`` is injectable for tests.
        """
        parsed = make_url(url)
        self._url = url
        self._tenant_secret = tenant_secret
        self._pending_timeout = pending_timeout
        self._extractor = row_extractor
        self._memo_size = campaign_memo_size
        self._clock = clock
        if parsed.get_backend_name() == "sqlite":
            if parsed.database in (None, "", ":memory:") or "mode=memory" in url:
                raise ValueError("in-memory SQLite is not supported; use a file path")
            busy_ms = int(busy_timeout * 1000)
            # pool_size=1/max_overflow=0: exactly one writer connection.
            write = create_async_engine(
                url, echo=echo, pool_size=1, max_overflow=0, pool_timeout=max(30.0, busy_timeout)
            )
            _install_sqlite_hooks(write, begin="BEGIN IMMEDIATE", busy_ms=busy_ms, query_only=False)
            read = create_async_engine(url, echo=echo, pool_size=read_pool_size, max_overflow=0)
            _install_sqlite_hooks(read, begin="BEGIN", busy_ms=busy_ms, query_only=True)
            self._owned = [write, read]
        else:
            write = read = create_async_engine(url, echo=echo)
            self._owned = [write]
        self._engines = Engines(
            write=write,
            read=read,
            read_autocommit=read.execution_options(store_no_begin=True),
            clock=clock,
        )
        self._sessionmaker = async_sessionmaker(write, expire_on_commit=False)
        self._campaigns: CampaignCache | None = None
        self._idempotency: IdempotencyStore | None = None
        self._changelog: ChangeLog | None = None
        self._tenants: TenantHasher | None = None
        self._closed = False

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> Database:
        """Create/upgrade the schema and build the repositories. Idempotent."""
        if self._campaigns is not None:
            return self
        await self.migrate()
        secret = self._tenant_secret
        if secret is None:
            secret = await load_or_create_secret(self._engines)
        epoch = await self._load_or_create_meta(WATCH_EPOCH_KEY, secrets.token_hex(8))
        self._tenants = TenantHasher(secret)
        self._campaigns = CampaignCache(self._engines, memo_size=self._memo_size)
        self._idempotency = IdempotencyStore(self._engines, pending_timeout=self._pending_timeout)
        self._changelog = ChangeLog(self._engines, epoch=epoch, extractor=self._extractor)
        return self

    async def migrate(self) -> int:
        """Bring the schema to LATEST_VERSION in one write transaction; returns it.

        Fresh database: create everything and stamp the latest version. Older
        version: run each later step in order (steps are idempotent). Newer
        version: raise :class:`SchemaTooNew`.
        """
        async with self._engines.write.begin() as conn:
            return await conn.run_sync(_migrate_sync)

    async def schema_version(self) -> int:
        async with self._engines.read.connect() as conn:
            value = await conn.scalar(select(meta.c.value).where(meta.c.key == SCHEMA_VERSION_KEY))
        return int(value) if value is not None else 0

    async def _load_or_create_meta(self, key: str, candidate: str) -> str:
        async with self._engines.write.begin() as conn:
            stmt = upsert(self._engines.dialect, meta).values(key=key, value=candidate)
            await conn.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))
            value = await conn.scalar(select(meta.c.value).where(meta.c.key == key))
        assert value is not None
        return str(value)

    async def aclose(self) -> None:
        """Dispose all engines (closes pooled connections, ends WAL readers)."""
        if self._closed:
            return
        self._closed = True
        for engine in self._owned:
            await engine.dispose()

    async def __aenter__(self) -> Self:
        try:
            await self.start()
            return self
        except BaseException:
            await self.aclose()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- access -------------------------------------------------------------

    def _require(self, repo: _Repo | None) -> _Repo:
        if repo is None:
            raise RuntimeError("Database not started; use 'async with' or open_database()")
        return repo

    @property
    def campaigns(self) -> CampaignCache:
        return self._require(self._campaigns)

    @property
    def idempotency(self) -> IdempotencyStore:
        return self._require(self._idempotency)

    @property
    def changelog(self) -> ChangeLog:
        return self._require(self._changelog)

    @property
    def tenants(self) -> TenantHasher:
        return self._require(self._tenants)

    @property
    def engines(self) -> Engines:
        """The read and write engines, for another component on the same database."""
        return self._engines

    @property
    def engine(self) -> AsyncEngine:
        """The write engine (the only engine for non-SQLite URLs)."""
        return self._engines.write

    @property
    def read_engine(self) -> AsyncEngine:
        return self._engines.read

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        """ORM sessions on the write engine, for code that wants them (unused here)."""
        return self._sessionmaker


def _migrate_sync(conn: Connection) -> int:
    meta.create(conn, checkfirst=True)
    raw = conn.execute(select(meta.c.value).where(meta.c.key == SCHEMA_VERSION_KEY)).scalar()
    if raw is None:
        existing = set(inspect(conn).get_table_names()) - {meta.name}
        if not existing:
            # Fresh database: the current layout is the latest version.
            metadata.create_all(conn, checkfirst=True)
            version = LATEST_VERSION
            conn.execute(meta.insert().values(key=SCHEMA_VERSION_KEY, value=str(version)))
            return version
        version = 0
    else:
        version = int(raw)
    if version > LATEST_VERSION:
        raise SchemaTooNew(
            f"database schema v{version} is newer than this gateway (v{LATEST_VERSION})"
        )
    for number, _description, step in MIGRATIONS:
        if number > version:
            step(conn)
            version = number
    conn.execute(meta.delete().where(meta.c.key == SCHEMA_VERSION_KEY))
    conn.execute(meta.insert().values(key=SCHEMA_VERSION_KEY, value=str(version)))
    return version


async def open_database(url: str, **options: Any) -> Database:
    """Create a :class:`Database`, create/upgrade its schema and return it started.

    ``options`` are :class:`Database` keyword arguments. The caller must
    ``await db.aclose()`` (or use the returned object with ``async with``).
    """
    db = Database(url, **options)
    try:
        return await db.start()
    except BaseException:
        await db.aclose()
        raise
