"""How often the database failed this process, by kind: a plain counter the metrics read.

Why at the engines rather than at each caller: the cache, creates, the watch's leases
and change log all reach the database through the same two engines, and each caller
handles a failure its own way (a miss, UNAVAILABLE, a degraded watch), so counting at
the callers would miss some and count others twice. SQLAlchemy reports every failed
statement (``handle_error``); a connection that cannot be opened is seen in
``do_connect`` instead, because asyncpg raises the socket's own error there
(``ConnectionRefusedError``), which never reaches ``handle_error``.

A pre-ping that finds a pooled connection dead is not counted: the pool reconnects and
the caller sees nothing (if the reconnect fails, that is counted).

The store does not import prometheus: ``gateway.observability`` reads :attr:`counts` at
scrape time. Kinds are a fixed set (bounded label values).
"""

from __future__ import annotations

import errno
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.ext.asyncio import AsyncEngine

from ._errors import StoreUnavailable

__all__ = ["DATABASE_ERROR_KINDS", "DatabaseErrors", "error_kind"]

DATABASE_ERROR_KINDS = ("unreachable", "locked", "full", "other")

# PostgreSQL SQLSTATEs: lock_not_available, deadlock_detected, serialization_failure.
_LOCKED_STATES = frozenset({"55P03", "40P01", "40001"})
_FULL_STATES = frozenset({"53100"})  # disk_full
# Class 08 (connection exception) is matched by prefix; these say the server went away:
# admin_shutdown, crash_shutdown, cannot_connect_now.
_GONE_STATES = frozenset({"57P01", "57P02", "57P03"})


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    # asyncpg's own exception (carrying the SQLSTATE) is the adapter error's cause.
    for candidate in (exc, orig, getattr(orig, "__cause__", None), exc.__cause__):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None


def error_kind(exc: BaseException, *, disconnect: bool = False) -> str:
    """One of :data:`DATABASE_ERROR_KINDS` (``disconnect``: SQLAlchemy found the
    connection dead).

    Narrower than :func:`~._errors.unreachable`, which takes any ``OperationalError``
    for an outage (the safe way to *act*: skip the cache, refuse a create); a count of
    what *happened* should not call a missing table or a lock wait an outage.
    """
    state = _sqlstate(exc)
    orig = getattr(exc, "orig", None)
    text = str(orig or exc).lower()
    if state in _FULL_STATES or "database or disk is full" in text or (
            isinstance(exc, OSError) and exc.errno == errno.ENOSPC):
        return "full"
    if state in _LOCKED_STATES or "database is locked" in text \
            or "database table is locked" in text:
        return "locked"
    if disconnect or isinstance(exc, OSError | TimeoutError | InterfaceError) \
            or isinstance(orig, OSError | TimeoutError) \
            or (isinstance(exc, DBAPIError) and exc.connection_invalidated) \
            or (state is not None and (state.startswith("08") or state in _GONE_STATES)) \
            or "unable to open database file" in text:
        return "unreachable"
    return "other"


class DatabaseErrors:
    """Failures seen on the engines it is :meth:`install`-ed on, by kind."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = dict.fromkeys(DATABASE_ERROR_KINDS, 0)

    def count(self, exc: BaseException, *, disconnect: bool = False) -> None:
        if isinstance(exc, StoreUnavailable):  # the gateway's own refusal: no query was sent
            return
        self.counts[error_kind(exc, disconnect=disconnect)] += 1

    def install(self, engine: AsyncEngine) -> None:
        """Count the failures of ``engine`` (its execution-option copies share it)."""
        sync_engine = engine.sync_engine
        dialect = sync_engine.dialect

        @event.listens_for(sync_engine, "handle_error")
        def _failed(ctx: ExceptionContext) -> None:
            if ctx.is_pre_ping:
                return
            self.count(ctx.sqlalchemy_exception or ctx.original_exception,
                       disconnect=ctx.is_disconnect)

        @event.listens_for(sync_engine, "do_connect")
        def _connect(_dialect: Any, _rec: Any, cargs: Any, cparams: Any) -> Any:
            try:  # what the dialect does without this hook
                return dialect.connect(*cargs, **cparams)
            except Exception as exc:
                # DBAPI errors reach handle_error too: counted there, once.
                if not isinstance(exc, dialect.loaded_dbapi.Error):
                    self.count(exc)
                raise
