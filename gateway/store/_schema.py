"""Table definitions and numbered schema migrations for the gateway store.

All tables live in one ``MetaData`` so ``create_all`` builds a fresh database in
one go. Existing databases are upgraded by :data:`MIGRATIONS`: numbered steps,
each idempotent (safe to re-run on a database that already has the change),
applied in order inside one write transaction by ``Database.migrate``. The
applied version is the ``schema_version`` row of the ``meta`` table.

History (append only; never edit a released step):

* v1 - first layout: meta, campaigns, campaign_lists, idempotency, watch_* tables.
* v2 - ``watch_campaigns.terminal`` column and the retention indexes used by
  ``IdempotencyStore.purge`` and ``ChangeLog.compact``.
* v3 - ``watch_rows.fast_hash`` (nullable): a cheap digest checked before the
  canonical ``row_hash``; NULL on rows written before v3 (filled on their next poll).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    Column,
    Connection,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    text,
)

__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "campaign_lists",
    "campaigns",
    "idempotency",
    "meta",
    "metadata",
    "watch_campaigns",
    "watch_changes",
    "watch_rows",
]

metadata = MetaData()

# Small key/value table: schema_version, tenant_secret, watch_epoch.
meta = Table(
    "meta",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", Text, nullable=False),
)

# One row per (tenant, campaign): the upstream JSON object as text. WITHOUT ROWID
# makes the composite primary key the clustered key, so a Get is one B-tree seek.
campaigns = Table(
    "campaigns",
    metadata,
    Column("tenant", String, primary_key=True),
    Column("campaign_id", String, primary_key=True),
    Column("payload", Text, nullable=False),
    Column("fetched_at", Float, nullable=False),
    # Index in the tenant's last full List result; NULL = not part of that list.
    Column("list_position", Integer, nullable=True),
    sqlite_with_rowid=False,
)

# When each tenant's full campaign list was last fetched.
campaign_lists = Table(
    "campaign_lists",
    metadata,
    Column("tenant", String, primary_key=True),
    Column("fetched_at", Float, nullable=False),
)

idempotency = Table(
    "idempotency",
    metadata,
    Column("tenant", String, primary_key=True),
    Column("request_id", String, primary_key=True),
    Column("request_hash", String, nullable=False),
    Column("state", String, nullable=False),  # 'pending' | 'done'
    Column("response", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    sqlite_with_rowid=False,
)
Index("ix_idempotency_updated_at", idempotency.c.updated_at)

watch_campaigns = Table(
    "watch_campaigns",
    metadata,
    Column("campaign_key", String, primary_key=True),
    Column("current_revision", Integer, nullable=False),
    Column("compacted_revision", Integer, nullable=False),
    Column("epoch", String, nullable=False),
    Column("last_polled_at", Float, nullable=True),
    Column("terminal", Integer, nullable=False, server_default="0"),
    # The campaign's incarnation (_incarnation.incarnation_of) its rows and changes belong to.
    Column("incarnation", String, nullable=True),
)

watch_rows = Table(
    "watch_rows",
    metadata,
    Column("campaign_key", String, primary_key=True),
    Column("row_id", String, primary_key=True),
    Column("row", Text, nullable=False),
    # Digest of the canonical JSON: lets a poll compare 100k rows without
    # loading their text.
    Column("row_hash", String, nullable=False),
    # Digest of the row's marshal bytes (key order as received): ~3x cheaper to
    # compute than canonical JSON, so an unchanged row costs no canonicalisation.
    # Equal fast hashes imply equal rows; unequal ones fall back to row_hash
    # (key order may differ). NULL = not known yet (rows from before v3).
    Column("fast_hash", LargeBinary, nullable=True),
    Column("status", String, nullable=True),
    Column("result", String, nullable=True),
    Column("revision_last_changed", Integer, nullable=False),
    sqlite_with_rowid=False,
)

watch_changes = Table(
    "watch_changes",
    metadata,
    Column("campaign_key", String, primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("row_id", String, nullable=False),
    Column("kind", String, nullable=False),  # 'added' | 'modified' | 'removed'
    Column("row", Text, nullable=False),
    Column("prev_status", String, nullable=True),
    Column("prev_result", String, nullable=True),
    Column("committed_at", Float, nullable=False),
    # JSON list of the paths a 'modified' change touched (watch read masks); NULL: unknown.
    Column("changed", Text, nullable=True),
    sqlite_with_rowid=False,
)
Index("ix_watch_changes_committed_at", watch_changes.c.committed_at)


def _v1_initial(conn: Connection) -> None:
    # Only reached for a database that has a meta table but no version (or v0):
    # create whatever is missing. checkfirst keeps it idempotent.
    metadata.create_all(conn, checkfirst=True)


def _v2_terminal_and_retention_indexes(conn: Connection) -> None:
    columns = {c["name"] for c in inspect(conn).get_columns("watch_campaigns")}
    if "terminal" not in columns:
        conn.execute(
            text("ALTER TABLE watch_campaigns ADD COLUMN terminal INTEGER NOT NULL DEFAULT 0")
        )
    for index in (*idempotency.indexes, *watch_changes.indexes):
        index.create(conn, checkfirst=True)


def _v3_watch_rows_fast_hash(conn: Connection) -> None:
    columns = {c["name"] for c in inspect(conn).get_columns("watch_rows")}
    if "fast_hash" not in columns:
        # NULL for existing rows: their next poll compares canonically once and
        # stores the fast hash (no spurious events, no bulk rewrite here).
        kind = LargeBinary().compile(dialect=conn.dialect)
        conn.execute(text(f"ALTER TABLE watch_rows ADD COLUMN fast_hash {kind}"))


def _v4_watch_changes_changed(conn: Connection) -> None:
    columns = {c["name"] for c in inspect(conn).get_columns("watch_changes")}
    if "changed" not in columns:
        # NULL for changes logged before: a masked watch delivers them (never misses one).
        conn.execute(text("ALTER TABLE watch_changes ADD COLUMN changed TEXT"))


def _v5_watch_campaigns_incarnation(conn: Connection) -> None:
    columns = {c["name"] for c in inspect(conn).get_columns("watch_campaigns")}
    if "incarnation" not in columns:
        # NULL: learnt at the next admission, without dropping anything.
        conn.execute(text("ALTER TABLE watch_campaigns ADD COLUMN incarnation VARCHAR"))


Migration = Callable[[Connection], None]

# (version, description, step). Versions are contiguous from 1.
MIGRATIONS: list[tuple[int, str, Migration]] = [
    (1, "initial layout", _v1_initial),
    (2, "watch_campaigns.terminal + retention indexes", _v2_terminal_and_retention_indexes),
    (3, "watch_rows.fast_hash", _v3_watch_rows_fast_hash),
    (4, "watch_changes.changed", _v4_watch_changes_changed),
    (5, "watch_campaigns.incarnation", _v5_watch_campaigns_incarnation),
]

LATEST_VERSION = MIGRATIONS[-1][0]
