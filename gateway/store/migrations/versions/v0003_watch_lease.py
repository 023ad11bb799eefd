"""Watched campaigns get a poller lease with a fencing epoch (issue 15).

Revision ID: 0003
Revises: 0002

Several replicas may watch one campaign; exactly one of them polls it. That one holds
the lease (``lease_owner``, random per process, until ``lease_expires_at``), and every
acquisition by anyone bumps ``lease_epoch``: a change-log commit is accepted only from
the owner under the current epoch, so a poller that lost its lease (paused, partitioned)
cannot write after its successor started. NULL owner: nobody polls it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Nullable (or defaulted) columns: an in-place ALTER on both backends.
    op.add_column("watch_campaigns", sa.Column("lease_owner", sa.String(), nullable=True))
    op.add_column("watch_campaigns", sa.Column("lease_epoch", sa.Integer(), nullable=False,
                                               server_default="0"))
    op.add_column("watch_campaigns", sa.Column("lease_expires_at", sa.Float(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE watch_campaigns DROP COLUMN lease_expires_at")
    op.execute("ALTER TABLE watch_campaigns DROP COLUMN lease_epoch")
    op.execute("ALTER TABLE watch_campaigns DROP COLUMN lease_owner")
