"""Idempotency records get an owner and a lease (issue 15).

Revision ID: 0002
Revises: 0001

A pending create is now stamped with the process that runs it (``owner``, random per
process) and that process refreshes ``heartbeat_at`` while the create is in flight,
so another replica waits for a live owner instead of answering "outcome unknown".
Both NULL on rows from before: no live owner, i.e. what they meant until now.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Nullable columns: an in-place ALTER on both backends, no table rebuild.
    op.add_column("idempotency", sa.Column("owner", sa.String(), nullable=True))
    op.add_column("idempotency", sa.Column("heartbeat_at", sa.Float(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite >= 3.35): a batch rebuild would lose WITHOUT ROWID.
    op.execute("ALTER TABLE idempotency DROP COLUMN heartbeat_at")
    op.execute("ALTER TABLE idempotency DROP COLUMN owner")
