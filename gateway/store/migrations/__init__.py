"""The store's migration history (Alembic), shipped inside the package.

Layout::

    env.py        runs the revisions on the connection ``gateway.store`` hands it
                  (no alembic.ini, no URL here: ``_migrate`` builds the Config in code)
    _v5_layout.py the frozen schema of the last hand-rolled version (v5)
    _legacy.py    brings a pre-Alembic database (meta.schema_version 0..5) to v5
    versions/     v0001_baseline (= v5), v0002_idempotency_lease, ...

Why Alembic: one history for SQLite and PostgreSQL, written once, with a version
table it maintains itself. Revisions run inside the caller's transaction under a
migration lock (``_migrate``), so concurrent start-ups migrate once and a failed
migration leaves nothing half done (DDL is transactional on both backends).

Adding a revision: copy the newest file under ``versions/``, give it the next
``revision`` id (``NNNN``, at most 32 characters) with ``down_revision`` the previous
one, and change ``gateway/store/_schema.py`` the same way;
``tests/store/test_store_migrations.py`` fails while the two disagree. Only add
nullable columns or use ``op.batch_alter_table`` for SQLite's sake.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["SCRIPT_LOCATION"]

SCRIPT_LOCATION = str(Path(__file__).resolve().parent)
