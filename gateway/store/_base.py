"""Shared plumbing for the store repositories: engine handles, JSON and upserts.

Kept separate from ``_engine`` so repositories can import it without a cycle
(``_engine`` builds the repositories).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = [
    "MAX_PARAMS",
    "Engines",
    "advisory_xact_lock",
    "canonical_json",
    "chunked",
    "dumps",
    "upsert",
]

# SQLite's historical bound-parameter limit is 999; stay below it so chunked
# IN (...) queries work on any SQLite build.
MAX_PARAMS = 900

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Engines:
    """Engine handles shared by every repository of one ``Database``.

    SQLite: ``write`` serialises writers (SQLite allows one writer anyway; one
    pooled connection with BEGIN IMMEDIATE means no SQLITE_BUSY inside the process).
    PostgreSQL: ``write`` is a pool at READ COMMITTED; what must not interleave
    takes a row lock (``with_for_update``) or :func:`advisory_xact_lock`.
    ``read`` runs read transactions concurrently with the writer, each on one
    consistent snapshot (WAL; REPEATABLE READ READ ONLY on PostgreSQL).
    ``read_autocommit`` skips BEGIN/COMMIT for single-statement hot-path reads.
    """

    write: AsyncEngine
    read: AsyncEngine
    read_autocommit: AsyncEngine
    clock: Callable[[], float]

    @property
    def dialect(self) -> str:
        return self.write.dialect.name


# Prebuilt encoders: json.dumps() with non-default options builds a new
# JSONEncoder per call, which dominates when canonicalising 100k rows.
_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def dumps(obj: Any) -> str:
    """Compact JSON text for storage (not canonical; key order as given)."""
    return _compact(obj)


def canonical_json(obj: Any) -> str:
    """Stable JSON text: equal values give equal strings (used for change detection)."""
    return _canonical(obj)


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def upsert(dialect: str, table: Table) -> Any:
    """An INSERT that supports ``on_conflict_do_update`` for the given dialect.

    SQLite and PostgreSQL share the ON CONFLICT syntax; other backends would
    need MERGE and are not supported by the store.
    """
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    raise NotImplementedError(f"gateway.store supports sqlite and postgresql, not {dialect!r}")


async def advisory_xact_lock(conn: AsyncConnection, name: str) -> None:
    """Serialise transactions about ``name`` until this one ends (PostgreSQL).

    For work with no single row to lock (e.g. replacing a tenant's cached list, whose
    rows may not exist yet). On SQLite the write transaction already excludes every
    other writer, so this is a no-op there.
    """
    if conn.dialect.name != "postgresql":
        return
    # A signed 64-bit key from the name: collisions only make unrelated work wait.
    key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
