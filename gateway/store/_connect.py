"""Engines for the two supported backends, each tuned for how the store uses them.

SQLite (the default, one gateway process per file):

* every connection gets WAL (readers never block the writer), synchronous=NORMAL
  (durable at checkpoints; in WAL a crash loses at most the last commits, never
  corrupts), busy_timeout and foreign_keys=ON, in a ``connect`` event;
* Python's sqlite3 "legacy" transaction handling is switched off
  (``isolation_level = None``) and SQLAlchemy emits BEGIN itself, as the
  SQLAlchemy SQLite docs recommend, so SELECTs really run inside transactions
  (needed for consistent snapshots) and DDL is transactional (migrations);
* writes go through a one-connection engine that begins with BEGIN IMMEDIATE:
  writers queue in-process instead of failing with SQLITE_BUSY on lock upgrade,
  and across processes busy_timeout applies. That lock is also the migration lock.
  Reads use a separate small pool (``PRAGMA query_only``) and deferred BEGIN, so
  they run alongside a write. ``:memory:`` is rejected: each pooled connection
  would get its own empty database.

PostgreSQL (asyncpg; several gateway replicas may share one database):

* writes use a pool at READ COMMITTED; the repositories serialise what must be
  serialised with row locks (``SELECT ... FOR UPDATE``) and transaction-scoped
  advisory locks, never by relying on a single connection;
* reads that must see one consistent state across several statements (a snapshot
  and its revision, ``changes_since``, a cached list and its timestamp) run in
  REPEATABLE READ, read-only transactions: one snapshot per transaction, as WAL gives
  SQLite readers. Single-statement hot-path reads (``read_autocommit``) run in
  autocommit mode: no BEGIN/COMMIT round trips;
* pre-ping on checkout, so a database failover costs a reconnect, not an error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ._base import Engines
from ._errors import display_url

__all__ = ["build_engines", "normalize_url", "sqlite_url"]

# asyncpg names the connection in pg_stat_activity, for whoever debugs a lock.
_APPLICATION_NAME = "revox-gateway"


def sqlite_url(path: str | Path) -> str:
    """``sqlite+aiosqlite:///<absolute path>`` for a database file."""
    return f"sqlite+aiosqlite:///{Path(path).expanduser().resolve()}"


def normalize_url(url: str) -> str:
    """The async driver's URL for a driverless one: ``postgresql://`` (and Heroku-style
    ``postgres://``) means asyncpg, ``sqlite://`` aiosqlite; anything else unchanged."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    else:
        return url
    return parsed.render_as_string(hide_password=False)


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
            # busy_timeout first: switching a new file to WAL needs a lock that a
            # concurrently starting process may hold for a moment.
            cur.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
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


def _sqlite_engines(
    url: str, *, busy_timeout: float, read_pool_size: int, echo: bool
) -> tuple[AsyncEngine, AsyncEngine, AsyncEngine]:
    parsed = make_url(url)
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
    return write, read, read.execution_options(store_no_begin=True)


def _postgres_engines(
    url: str, *, connect_timeout: float, pool_size: int, read_pool_size: int, echo: bool
) -> tuple[AsyncEngine, AsyncEngine, AsyncEngine]:
    connect_args = {
        "timeout": connect_timeout,
        "server_settings": {"application_name": _APPLICATION_NAME},
    }
    common: dict[str, Any] = {"echo": echo, "pool_pre_ping": True, "connect_args": connect_args}
    write = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, **common)
    read = create_async_engine(
        url,
        pool_size=read_pool_size,
        max_overflow=read_pool_size,
        isolation_level="REPEATABLE READ",
        **common,
    )
    return write, read, read.execution_options(isolation_level="AUTOCOMMIT")


def build_engines(
    url: str,
    *,
    busy_timeout: float,
    connect_timeout: float,
    pool_size: int,
    read_pool_size: int,
    clock: Callable[[], float],
    echo: bool,
) -> tuple[Engines, list[AsyncEngine]]:
    """The store's engine handles for ``url`` and the engines to dispose at close."""
    parsed = make_url(url)
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if (backend, driver) not in (("sqlite", "aiosqlite"), ("postgresql", "asyncpg")):
        raise ValueError(
            f"unsupported database {display_url(url)}: the gateway runs on SQLite "
            "(sqlite+aiosqlite:///path) or PostgreSQL (postgresql+asyncpg://...)"
        )
    if backend == "sqlite":
        write, read, read_autocommit = _sqlite_engines(
            url, busy_timeout=busy_timeout, read_pool_size=read_pool_size, echo=echo
        )
        owned = [write, read]
    elif backend == "postgresql":
        write, read, read_autocommit = _postgres_engines(
            url,
            connect_timeout=connect_timeout,
            pool_size=pool_size,
            read_pool_size=read_pool_size,
            echo=echo,
        )
        owned = [write, read]
        # A write through the read engine fails, as SQLite's query_only makes it.
        read = read.execution_options(postgresql_readonly=True)
    engines = Engines(write=write, read=read, read_autocommit=read_autocommit, clock=clock)
    return engines, owned
