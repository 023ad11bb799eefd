"""Table definitions of the gateway store: the current model the code queries.

The database gets this layout through the Alembic history in ``migrations/`` (the
one way a schema changes, on SQLite and PostgreSQL alike); a test checks that the
migrated database and this ``MetaData`` agree, so a change here without its
revision (or the reverse) fails.

Portable types on purpose: ``String`` keys (VARCHAR, unbounded on both),
``Float`` epoch seconds (8-byte doubles on both), JSON as ``Text``, digests as
``LargeBinary`` (BLOB/BYTEA). ``sqlite_with_rowid`` is a SQLite-only option that
other dialects ignore.

Before Alembic the schema had hand-rolled versions 1..5 (``meta.schema_version``):
v1 first layout; v2 ``watch_campaigns.terminal`` and the retention indexes; v3
``watch_rows.fast_hash``; v4 ``watch_changes.changed``; v5
``watch_campaigns.incarnation``. Revision 0001 is v5; 0002 adds the idempotency lease;
0003 the watch poller lease; 0004 the poller's reported trouble (``degraded_detail``).
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, LargeBinary, MetaData, String, Table, Text

__all__ = [
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
    # The process running a pending create (random per process) and when it last said
    # it is alive; NULL: nobody (rows from before revision 0002, abandoned creates).
    Column("owner", String, nullable=True),
    Column("heartbeat_at", Float, nullable=True),
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
    # The poller lease (revision 0003, ``_watch_lease``): who polls, under which fencing
    # epoch, until when; NULL owner: nobody.
    Column("lease_owner", String, nullable=True),
    Column("lease_epoch", Integer, nullable=False, server_default="0"),
    Column("lease_expires_at", Float, nullable=True),
    # What the lease holder's last poll failed with (revision 0004), for the heartbeats
    # of replicas that follow its log; NULL: it succeeded.
    Column("degraded_detail", String, nullable=True),
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
    # (key order may differ). NULL = not known yet (rows from before schema v3).
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
