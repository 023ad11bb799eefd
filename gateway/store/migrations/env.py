"""Alembic environment of the gateway store: runs revisions on a given connection.

``gateway.store._migrate`` puts an open SQLAlchemy ``Connection`` (inside its
transaction and migration lock) into ``config.attributes["connection"]``; there is
no URL or alembic.ini to read, so the alembic command line is not a way in
(use ``revox-gateway migrate`` or ``gateway.store.migrate(url)``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from gateway.store._schema import metadata

__all__: list[str] = []


def _run() -> None:
    if context.is_offline_mode():
        raise RuntimeError("offline (--sql) migrations are not supported")
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError(
            "run the gateway's migrations with `revox-gateway migrate` or "
            "gateway.store.migrate(url), which pass the connection"
        )
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # The caller's transaction wraps every revision: SQLite's DDL is
        # transactional too once pysqlite's own BEGIN handling is off (_engine).
        transactional_ddl=True,
        # SQLite alters little in place; batch mode rebuilds tables when needed.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


_run()
