"""The schema exactly as the hand-rolled migrations left it at v5: the base of the
Alembic history.

Frozen: never edit. The baseline revision creates these tables on a fresh database,
and the adoption of an old database (``_legacy``) creates whichever of them a v0/v1
file lacks, so both roads meet at the same layout before the later revisions run.
Changes go in a new revision under ``versions/`` (and in ``gateway/store/_schema.py``,
the current model, which a test compares with the migrated database).
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, LargeBinary, MetaData, String, Table, Text

__all__ = ["v5_layout"]


def v5_layout() -> MetaData:
    """A new ``MetaData`` holding the v5 tables (new each call: callers may bind it)."""
    md = MetaData()
    Table(
        "meta",
        md,
        Column("key", String, primary_key=True),
        Column("value", Text, nullable=False),
    )
    Table(
        "campaigns",
        md,
        Column("tenant", String, primary_key=True),
        Column("campaign_id", String, primary_key=True),
        Column("payload", Text, nullable=False),
        Column("fetched_at", Float, nullable=False),
        Column("list_position", Integer, nullable=True),
        sqlite_with_rowid=False,
    )
    Table(
        "campaign_lists",
        md,
        Column("tenant", String, primary_key=True),
        Column("fetched_at", Float, nullable=False),
    )
    idempotency = Table(
        "idempotency",
        md,
        Column("tenant", String, primary_key=True),
        Column("request_id", String, primary_key=True),
        Column("request_hash", String, nullable=False),
        Column("state", String, nullable=False),
        Column("response", Text, nullable=True),
        Column("created_at", Float, nullable=False),
        Column("updated_at", Float, nullable=False),
        sqlite_with_rowid=False,
    )
    Index("ix_idempotency_updated_at", idempotency.c.updated_at)
    Table(
        "watch_campaigns",
        md,
        Column("campaign_key", String, primary_key=True),
        Column("current_revision", Integer, nullable=False),
        Column("compacted_revision", Integer, nullable=False),
        Column("epoch", String, nullable=False),
        Column("last_polled_at", Float, nullable=True),
        Column("terminal", Integer, nullable=False, server_default="0"),
        Column("incarnation", String, nullable=True),
    )
    Table(
        "watch_rows",
        md,
        Column("campaign_key", String, primary_key=True),
        Column("row_id", String, primary_key=True),
        Column("row", Text, nullable=False),
        Column("row_hash", String, nullable=False),
        Column("fast_hash", LargeBinary, nullable=True),
        Column("status", String, nullable=True),
        Column("result", String, nullable=True),
        Column("revision_last_changed", Integer, nullable=False),
        sqlite_with_rowid=False,
    )
    watch_changes = Table(
        "watch_changes",
        md,
        Column("campaign_key", String, primary_key=True),
        Column("revision", Integer, primary_key=True),
        Column("seq", Integer, primary_key=True),
        Column("row_id", String, nullable=False),
        Column("kind", String, nullable=False),
        Column("row", Text, nullable=False),
        Column("prev_status", String, nullable=True),
        Column("prev_result", String, nullable=True),
        Column("committed_at", Float, nullable=False),
        Column("changed", Text, nullable=True),
        sqlite_with_rowid=False,
    )
    Index("ix_watch_changes_committed_at", watch_changes.c.committed_at)
    return md
