"""The poller's trouble is kept in the database, for every replica's subscribers (issue 15).

Revision ID: 0004
Revises: 0003

The replica holding a campaign's poller lease is the only one that sees the upstream
fail; the others follow its change log, and their subscribers' heartbeats must say
``upstream_degraded`` as the poller's own do. ``degraded_detail`` is what the poller
reports (written only under its current lease epoch); NULL: its last poll succeeded.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Nullable: an in-place ALTER on both backends; existing campaigns read as healthy.
    op.add_column("watch_campaigns", sa.Column("degraded_detail", sa.String(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE watch_campaigns DROP COLUMN degraded_detail")
