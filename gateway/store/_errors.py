"""Errors the store raises at start-up, and how a database URL may be shown.

Why a module of its own: these are what an operator reads when the gateway does not
start, so each is one line that names the database without ever showing its password
(``display_url``), and the CLI can catch them without importing the engines.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError

__all__ = [
    "DatabaseUnavailable",
    "MigrationFailed",
    "SchemaOutdated",
    "SchemaTooNew",
    "StoreUnavailable",
    "TenantSecretMismatch",
    "describe_cause",
    "display_url",
    "unreachable",
]


class SchemaTooNew(RuntimeError):
    """The database was written by a newer gateway; refuse rather than downgrade."""


class SchemaOutdated(RuntimeError):
    """Started with ``migrate=False`` on a database that is not at this gateway's schema."""


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or opened at start-up (one-line message)."""


class MigrationFailed(RuntimeError):
    """The database refused a migration (e.g. no CREATE privilege); nothing was changed."""


class TenantSecretMismatch(RuntimeError):
    """Another live gateway on this database uses a different tenant secret (``_presence``)."""


class StoreUnavailable(RuntimeError):
    """The database does not answer while the gateway runs: what needs it is refused
    (UNAVAILABLE, retry later) rather than done without it (e.g. a create that could
    not be kept idempotent)."""


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be talked to (down, unreachable, the
    connection lost), as opposed to a query it refused.

    Connecting fails with the socket's own error (asyncpg: ``ConnectionRefusedError``,
    ``TimeoutError``, not wrapped by SQLAlchemy); a connection lost mid-query comes
    wrapped, flagged ``connection_invalidated`` or as the driver's interface or
    operational error.
    """
    if isinstance(exc, StoreUnavailable | OSError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(
            exc, InterfaceError | OperationalError
        ) or isinstance(exc.orig, OSError | TimeoutError)
    return False


def display_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, fit for logs and error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        # Not parseable: it cannot be split into parts, so show none of it.
        return "<unparseable database URL>"


def describe_cause(exc: BaseException, url: str) -> str:
    """One line saying why ``exc`` happened, without the URL's password.

    SQLAlchemy wraps driver errors with the SQL and a link; the driver's own message
    (``orig``) is what tells an operator something. Drivers do not echo passwords, but
    a DSN in a message could, so the password is scrubbed anyway.
    """
    inner = getattr(exc, "orig", None) or exc
    message = " ".join(str(inner).split())
    name = type(inner).__name__
    if not message:  # e.g. TimeoutError()
        text = name
    elif type(inner).__module__ == "builtins":  # OSError's text says enough
        text = message
    else:  # a driver's class name is part of the diagnosis
        text = f"{name}: {message}"
    try:
        password = make_url(url).password
    except ArgumentError:
        password = None
    if password:
        text = text.replace(str(password), "***")
    return text
