"""Adoption of databases written before Alembic (hand-rolled schema versions 0..5).

Gateways up to schema v5 kept their own numbered history: ``meta.schema_version``
and idempotent steps applied in order. Such a database is brought to v5 by those
same steps (kept here verbatim in meaning, append-never now), then stamped with the
baseline revision, whose layout is v5, and upgraded like any other from there.

Afterwards ``meta.schema_version`` holds :data:`HANDED_OVER` (6): a gateway from
before Alembic reads it as "newer than me" and refuses to start, instead of running
its own steps against a schema it does not know. Fresh databases get it too.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, LargeBinary, inspect, select, text

from .._errors import SchemaTooNew
from ._v5_layout import v5_layout

__all__ = [
    "HANDED_OVER",
    "LEGACY_LATEST",
    "SCHEMA_VERSION_KEY",
    "adopt",
    "legacy_version",
    "mark_handed_over",
]

SCHEMA_VERSION_KEY = "schema_version"
LEGACY_LATEST = 5
HANDED_OVER = LEGACY_LATEST + 1


def _columns(conn: Connection, table: str) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns(table)}


def _v1_initial(conn: Connection) -> None:
    # A database with some tables but no version: create whatever is missing.
    v5_layout().create_all(conn, checkfirst=True)


def _v2_terminal_and_retention_indexes(conn: Connection) -> None:
    if "terminal" not in _columns(conn, "watch_campaigns"):
        conn.execute(
            text("ALTER TABLE watch_campaigns ADD COLUMN terminal INTEGER NOT NULL DEFAULT 0")
        )
    layout = v5_layout()
    for name in ("idempotency", "watch_changes"):
        for index in layout.tables[name].indexes:
            index.create(conn, checkfirst=True)


def _v3_watch_rows_fast_hash(conn: Connection) -> None:
    if "fast_hash" not in _columns(conn, "watch_rows"):
        # NULL for existing rows: their next poll compares canonically once and
        # stores the fast hash (no spurious events, no bulk rewrite here).
        kind = LargeBinary().compile(dialect=conn.dialect)
        conn.execute(text(f"ALTER TABLE watch_rows ADD COLUMN fast_hash {kind}"))


def _v4_watch_changes_changed(conn: Connection) -> None:
    if "changed" not in _columns(conn, "watch_changes"):
        # NULL for changes logged before: a masked watch delivers them (never misses one).
        conn.execute(text("ALTER TABLE watch_changes ADD COLUMN changed TEXT"))


def _v5_watch_campaigns_incarnation(conn: Connection) -> None:
    if "incarnation" not in _columns(conn, "watch_campaigns"):
        # NULL: learnt at the next admission, without dropping anything.
        conn.execute(text("ALTER TABLE watch_campaigns ADD COLUMN incarnation VARCHAR"))


_STEPS: list[tuple[int, Callable[[Connection], None]]] = [
    (1, _v1_initial),
    (2, _v2_terminal_and_retention_indexes),
    (3, _v3_watch_rows_fast_hash),
    (4, _v4_watch_changes_changed),
    (5, _v5_watch_campaigns_incarnation),
]


def legacy_version(conn: Connection) -> int | None:
    """The hand-rolled version of a database without Alembic's table: None when it
    holds no table of ours (a fresh database), 0 for tables without a version."""
    tables = set(inspect(conn).get_table_names()) - {"alembic_version"}
    if not tables:
        return None
    if "meta" not in tables:
        return 0
    raw = conn.execute(
        text("SELECT value FROM meta WHERE key = :k"), {"k": SCHEMA_VERSION_KEY}
    ).scalar()
    if raw is None:
        return 0
    try:
        return int(raw)
    except ValueError:
        raise SchemaTooNew(f"unrecognised schema_version {raw!r} in the meta table") from None


def adopt(conn: Connection, version: int) -> None:
    """Bring a database at hand-rolled ``version`` (0..5) to the v5 layout."""
    meta_table = v5_layout().tables["meta"]
    meta_table.create(conn, checkfirst=True)
    for number, step in _STEPS:
        if number > version:
            step(conn)
    mark_handed_over(conn)


def mark_handed_over(conn: Connection) -> None:
    """Record in ``meta.schema_version`` that Alembic now owns the schema (see module doc)."""
    meta_table = v5_layout().tables["meta"]
    current = conn.execute(
        select(meta_table.c.value).where(meta_table.c.key == SCHEMA_VERSION_KEY)
    ).scalar()
    if current == str(HANDED_OVER):
        return
    conn.execute(meta_table.delete().where(meta_table.c.key == SCHEMA_VERSION_KEY))
    conn.execute(meta_table.insert().values(key=SCHEMA_VERSION_KEY, value=str(HANDED_OVER)))
