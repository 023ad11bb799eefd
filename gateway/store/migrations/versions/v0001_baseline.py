"""Baseline: the layout of the last hand-rolled schema version (v5).

Revision ID: 0001
Revises: (none)

A fresh database gets these tables here; a database from before Alembic is brought
to the same layout by ``_legacy.adopt`` and stamped with this revision instead.
"""

from __future__ import annotations

from alembic import op

from gateway.store.migrations._v5_layout import v5_layout

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    v5_layout().create_all(op.get_bind(), checkfirst=False)


def downgrade() -> None:
    v5_layout().drop_all(op.get_bind(), checkfirst=True)
