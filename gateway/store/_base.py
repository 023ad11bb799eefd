"""Shared plumbing for the store repositories: engine handles, JSON and upserts.

Kept separate from ``_engine`` so repositories can import it without a cycle
(``_engine`` builds the repositories).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "MAX_PARAMS",
    "Engines",
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

    ``write`` serialises writers (SQLite allows one writer anyway; one pooled
    connection with BEGIN IMMEDIATE means no SQLITE_BUSY inside the process).
    ``read`` runs read transactions concurrently with the writer (WAL).
    ``read_autocommit`` skips BEGIN/COMMIT for single-statement hot-path reads.
    For non-SQLite URLs all three are the same engine.
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
