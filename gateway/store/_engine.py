"""Database lifecycle: reach the database, migrate (or check) its schema, build the
repositories, close.

``Database`` owns the engines (``_connect``: SQLite or PostgreSQL) and gives access
to every repository (``db.campaigns``, ``db.idempotency``, ``db.changelog``,
``db.tenants``). Use it as ``async with Database(url) as db: ...`` or
``db = await open_database(url)`` ... ``await db.aclose()``; ``migrate(url)`` only
upgrades the schema (``revox-gateway migrate``).

Start-up fails with one line an operator can act on, never with the password in it:
:class:`DatabaseUnavailable` (cannot connect or open), :class:`SchemaTooNew` (a newer
gateway wrote it), :class:`SchemaOutdated` (``migrate=False`` and not migrated),
:class:`MigrationFailed` (the database refused the DDL, e.g. no privilege),
:class:`TenantSecretMismatch` (a live replica of this database uses another secret).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ._base import Engines, upsert
from ._campaigns import CampaignCache
from ._changelog import ChangeLog, Extractor, default_extractor
from ._connect import build_engines, normalize_url, sqlite_url
from ._error_count import DatabaseErrors
from ._errors import (
    DatabaseUnavailable,
    MigrationFailed,
    SchemaOutdated,
    SchemaTooNew,
    TenantSecretMismatch,
    describe_cause,
    display_url,
)
from ._idempotency import IdempotencyStore
from ._migrate import check_schema, current_revision, upgrade
from ._outage import FailSoftCache, Outage
from ._presence import SecretPresence
from ._schema import meta
from ._tenancy import TenantHasher, load_or_create_secret

__all__ = [
    "Database",
    "DatabaseUnavailable",
    "MigrationFailed",
    "SchemaOutdated",
    "SchemaTooNew",
    "TenantSecretMismatch",
    "migrate",
    "open_database",
    "sqlite_url",
]

WATCH_EPOCH_KEY = "watch_epoch"

# SQLite: how long a start-up waits for another process's migration (its write lock)
# beyond busy_timeout, retrying "database is locked".
_SQLITE_MIGRATION_WAIT = 120.0

_log = logging.getLogger("gateway.store")

_Repo = TypeVar("_Repo")


class Database:
    """Owns the engines and the repositories of one gateway database."""

    def __init__(
        self,
        url: str,
        *,
        tenant_secret: bytes | str | None = None,
        migrate: bool = True,
        pending_timeout: float | None = 600.0,
        idempotency_lease: float = 10.0,
        busy_timeout: float = 5.0,
        connect_timeout: float = 10.0,
        row_extractor: Extractor = default_extractor,
        campaign_memo_size: int | None = None,
        pool_size: int = 5,
        read_pool_size: int = 4,
        clock: Callable[[], float] = time.time,
        echo: bool = False,
    ) -> None:
        """``tenant_secret``: e.g. from env GATEWAY_TENANT_SECRET (read by the caller);
        None = generate once and keep in the database. ``migrate``: upgrade the schema
        at start (else only check it is current). ``idempotency_lease``: seconds a
        pending create's owner stays "alive" without a heartbeat (``_idempotency``).
        ``campaign_memo_size``: None = 4096 on SQLite, 0 on PostgreSQL (replicas share
        the cache; a memo would not see the others' writes). ``pool_size`` applies to
        PostgreSQL (SQLite has one writer). ``clock`` is injectable for tests.
        """
        url = normalize_url(url)
        self._url = url
        self._display = display_url(url)
        self._tenant_secret = tenant_secret
        self._auto_migrate = migrate
        self._pending_timeout = pending_timeout
        self._lease = idempotency_lease
        self._extractor = row_extractor
        self._clock = clock
        self._engines, self._owned = build_engines(
            url,
            busy_timeout=busy_timeout,
            connect_timeout=connect_timeout,
            pool_size=pool_size,
            read_pool_size=read_pool_size,
            clock=clock,
            echo=echo,
        )
        # Every failure the engines see, by kind (the metrics read it at scrape time).
        self.errors = DatabaseErrors()
        for engine in self._owned:
            self.errors.install(engine)
        if campaign_memo_size is None:
            campaign_memo_size = 4096 if self._engines.dialect == "sqlite" else 0
        self._memo_size = campaign_memo_size
        self._sessionmaker = async_sessionmaker(self._engines.write, expire_on_commit=False)
        # Shared by whatever finds the database down while running (``_outage``).
        self.outage = Outage()
        self._campaigns: CampaignCache | None = None
        self._idempotency: IdempotencyStore | None = None
        self._changelog: ChangeLog | None = None
        self._tenants: TenantHasher | None = None
        self._presence: SecretPresence | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"Database({self._display})"

    @property
    def url(self) -> str:
        """The database URL with its password hidden (for logs and messages)."""
        return self._display

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> Database:
        """Connect, migrate (or check) the schema and build the repositories. Idempotent."""
        if self._campaigns is not None:
            return self
        await self.ping()
        if self._auto_migrate:
            await self.migrate()
        else:
            await self.check_schema()
        secret = self._tenant_secret
        if secret is None:
            secret = await load_or_create_secret(self._engines)
        epoch = await self._load_or_create_meta(WATCH_EPOCH_KEY, secrets.token_hex(8))
        self._tenants = TenantHasher(secret)
        raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        presence = SecretPresence(self._engines, raw, clock=self._clock)
        await presence.__aenter__()  # TenantSecretMismatch: another replica's secret differs
        self._presence = presence
        # Fail-soft: while the database is unreachable, reads go to the upstream uncached.
        self._campaigns = FailSoftCache(self._engines, memo_size=self._memo_size,
                                        outage=self.outage)
        self._idempotency = IdempotencyStore(
            self._engines, pending_timeout=self._pending_timeout, lease=self._lease
        )
        self._changelog = ChangeLog(self._engines, epoch=epoch, extractor=self._extractor)
        return self

    async def ping(self) -> None:
        """Open a connection once; :class:`DatabaseUnavailable` (one line) if that fails."""
        try:
            async with self._engines.write.connect():
                pass
        except Exception as exc:
            raise DatabaseUnavailable(
                f"cannot reach the database at {self._display}: {describe_cause(exc, self._url)}"
            ) from exc

    async def migrate(self) -> str:
        """Bring the schema to the head revision under the migration lock; returns it.

        Fresh database: the whole history runs. From before Alembic
        (``meta.schema_version`` 0..5): adopted, then upgraded. Written by a newer
        gateway: :class:`SchemaTooNew`. Safe to call concurrently from several
        processes: one migrates, the others wait and find nothing to do.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _SQLITE_MIGRATION_WAIT
        while True:
            try:
                async with self._engines.write.begin() as conn:
                    done = await conn.run_sync(upgrade, where=self._display)
                break
            except DBAPIError as exc:
                # Only SQLite's lock wait outlasting busy_timeout is worth a retry.
                locked = self._engines.dialect == "sqlite" and "locked" in str(exc.orig)
                if not locked or loop.time() > deadline:
                    raise MigrationFailed(
                        f"cannot migrate the database at {self._display}: "
                        f"{describe_cause(exc, self._url)}"
                    ) from exc
                await asyncio.sleep(0.1)
        if done.changed:
            _log.info(
                "database %s: schema migrated from %s to %s",
                self._display,
                done.before or "nothing",
                done.after,
            )
        return done.after

    async def check_schema(self) -> str:
        """The head revision if the database is at it; else :class:`SchemaOutdated` or
        :class:`SchemaTooNew` (changes nothing)."""
        async with self._engines.read.connect() as conn:
            return await conn.run_sync(check_schema, where=self._display)

    async def schema_version(self) -> str | None:
        """The database's Alembic revision (None: not migrated yet)."""
        async with self._engines.read.connect() as conn:
            return await conn.run_sync(current_revision)

    async def _load_or_create_meta(self, key: str, candidate: str) -> str:
        async with self._engines.write.begin() as conn:
            stmt = upsert(self._engines.dialect, meta).values(key=key, value=candidate)
            await conn.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))
            value = await conn.scalar(select(meta.c.value).where(meta.c.key == key))
        assert value is not None
        return str(value)

    async def aclose(self) -> None:
        """Let go of pending creates, dispose all engines (ends WAL readers)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._presence is not None:
                await self._presence.__aexit__(None, None, None)
            if self._idempotency is not None:
                await self._idempotency.aclose()
        finally:
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
    def notify_dsn(self) -> str | None:
        """PostgreSQL: the asyncpg DSN (password included: never log it) of a dedicated
        LISTEN connection (``gateway.watch._doorbell``); None on SQLite."""
        if self._engines.dialect != "postgresql":
            return None
        url = make_url(self._url).set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    @property
    def engine(self) -> AsyncEngine:
        """The write engine."""
        return self._engines.write

    @property
    def read_engine(self) -> AsyncEngine:
        return self._engines.read

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        """ORM sessions on the write engine, for code that wants them (unused here)."""
        return self._sessionmaker


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


async def migrate(url: str, *, busy_timeout: float = 5.0, connect_timeout: float = 10.0) -> str:
    """Upgrade the schema of the database at ``url`` to the head revision and return it,
    without starting anything else (``revox-gateway migrate``).

    Raises :class:`DatabaseUnavailable`, :class:`SchemaTooNew` or
    :class:`MigrationFailed` (one-line messages).
    """
    db = Database(url, migrate=False, busy_timeout=busy_timeout, connect_timeout=connect_timeout)
    try:
        await db.ping()
        return await db.migrate()
    finally:
        await db.aclose()
