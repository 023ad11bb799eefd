"""Schema upgrades: the Alembic history in ``migrations/``, run under a migration lock.

Why programmatic: the gateway migrates at start-up (or in ``revox-gateway migrate``)
with no alembic.ini to ship or find; the ``Config`` is built here and the caller's
connection handed to ``migrations/env.py``.

Everything runs in ONE write transaction of the caller, after taking the lock:

* PostgreSQL: ``pg_advisory_xact_lock`` on a fixed key, released by the commit. Of
  replicas starting together one migrates; the others wait, then find the head
  revision and do nothing. DDL is transactional, so a failure leaves nothing half done.
* SQLite: the write engine begins with BEGIN IMMEDIATE, which holds the database's
  write lock until the commit: other processes wait (busy_timeout, then retried by
  ``Database.migrate``). DDL is transactional here too (see ``_connect``).

Under the lock: a database with Alembic's version table is upgraded to head (an
unknown revision means a newer gateway wrote it: :class:`SchemaTooNew`); one without
it is either fresh (the history creates everything) or from before Alembic
(``meta.schema_version`` 0..5: ``migrations._legacy`` brings it to v5, which is the
baseline revision, then the history runs on from there).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util.exc import CommandError
from sqlalchemy import Connection, text

from ._errors import SchemaOutdated, SchemaTooNew
from .migrations import SCRIPT_LOCATION
from .migrations._legacy import LEGACY_LATEST, adopt, legacy_version, mark_handed_over

__all__ = [
    "BASELINE_REVISION",
    "MIGRATION_LOCK_KEY",
    "Migration",
    "check_schema",
    "current_revision",
    "head_revision",
    "upgrade",
]

# Alembic logs its context set-up at INFO on every start; ``Database.migrate`` logs
# the one line that matters (from which revision to which). Left alone if configured.
if logging.getLogger("alembic").level == logging.NOTSET:
    logging.getLogger("alembic").setLevel(logging.WARNING)

# The revision whose layout is the last hand-rolled version (v5).
BASELINE_REVISION = "0001"

# Advisory lock key shared by every gateway process on a PostgreSQL database: the
# bytes of "revoxmig" as a (positive) bigint. Fixed forever: replicas of different
# versions must agree on it.
MIGRATION_LOCK_KEY = int.from_bytes(b"revoxmig", "big")


@dataclass(frozen=True, slots=True)
class Migration:
    """What an upgrade did: ``before`` is the revision found (``"v0"``..``"v5"`` for
    a database from before Alembic, None for an empty one); ``after`` is the head."""

    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    # set_main_option interpolates %(...)s: a path may contain '%'.
    config.set_main_option("script_location", SCRIPT_LOCATION.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    """The newest revision this gateway knows (what a migrated database is at)."""
    head = _script().get_current_head()
    if head is None:  # pragma: no cover - the history ships with the package
        raise RuntimeError("the gateway's migration history is empty")
    return head


def current_revision(conn: Connection) -> str | None:
    """The database's Alembic revision; None without a version table (or an empty one)."""
    return MigrationContext.configure(conn).get_current_revision()


def _known(revision: str) -> bool:
    try:
        return _script().get_revision(revision) is not None
    except (CommandError, RevisionError):
        return False


def _too_new(where: str, found: str) -> SchemaTooNew:
    return SchemaTooNew(
        f"the database at {where} has schema {found}, newer than this gateway "
        f"(which knows up to {head_revision()}); run a newer gateway or restore a backup"
    )


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    # SQLite: the transaction began with BEGIN IMMEDIATE (the write engine), which
    # already excludes every other writer until it ends.


def upgrade(conn: Connection, *, where: str) -> Migration:
    """Bring the schema to head inside the caller's write transaction (see module doc).

    ``where`` names the database in error messages (password hidden).
    """
    _lock(conn)
    head = head_revision()
    current = current_revision(conn)
    before: str | None = current
    if current is not None:
        if not _known(current):
            raise _too_new(where, f"revision {current}")
    else:
        legacy = legacy_version(conn)
        if legacy is not None:
            if legacy > LEGACY_LATEST:
                raise _too_new(where, f"v{legacy} without Alembic's version table")
            adopt(conn, legacy)
            MigrationContext.configure(conn).stamp(_script(), BASELINE_REVISION)
            before = f"v{legacy}"
    if current != head:
        command.upgrade(_config(conn), "head")
    if current is None:
        mark_handed_over(conn)
    return Migration(before, head)


def check_schema(conn: Connection, *, where: str) -> str:
    """The head revision if the database is at it, else why not (without changing it):
    :class:`SchemaTooNew`, or :class:`SchemaOutdated` naming the way to migrate."""
    head = head_revision()
    current = current_revision(conn)
    if current == head:
        return head
    if current is not None and not _known(current):
        raise _too_new(where, f"revision {current}")
    if current is None:
        legacy = legacy_version(conn)
        found = "no schema" if legacy is None else f"schema v{legacy} (from before Alembic)"
        if legacy is not None and legacy > LEGACY_LATEST:
            raise _too_new(where, f"v{legacy} without Alembic's version table")
    else:
        found = f"schema revision {current}"
    raise SchemaOutdated(
        f"the database at {where} has {found}, this gateway needs revision {head}: "
        "run `revox-gateway migrate` first, or start without --no-migrate"
    )
