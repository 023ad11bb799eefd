"""Fixtures for the store tests: a real database per test, no mocks, on both backends.

``db`` / ``db_url`` / ``new_url`` are parametrized over ``sqlite`` (a file in a temp
directory) and ``postgresql`` (a fresh database per use, ``tests/store/_pg.py``), so
every test written against them runs twice, with the same expectations. Tests of
SQLite specifics (pragmas, files, WAL) use ``db_path`` / ``sqlite_db`` instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from gateway.store import Database, sqlite_url
from tests.store._pg import fresh_postgres_url

BACKENDS = ("sqlite", "postgresql")

NewUrl = Callable[[], Awaitable[str]]


class FakeClock:
    """Settable clock so time-based rules (pending_timeout) need no sleeps."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "gateway.db"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def new_url(backend: str, tmp_path: Path) -> AsyncIterator[NewUrl]:
    """A factory of URLs of new, empty databases of the test's backend (dropped after)."""
    async with AsyncExitStack() as stack:
        made = 0

        async def make() -> str:
            nonlocal made
            made += 1
            if backend == "sqlite":
                name = "gateway.db" if made == 1 else f"gateway{made}.db"
                return sqlite_url(tmp_path / name)
            return await stack.enter_async_context(fresh_postgres_url())

        yield make


@pytest.fixture
async def db_url(new_url: NewUrl) -> str:
    return await new_url()


@pytest.fixture
async def db(db_url: str, clock: FakeClock) -> AsyncIterator[Database]:
    async with Database(db_url, clock=clock) as database:
        yield database


@pytest.fixture
async def sqlite_db(db_path: Path, clock: FakeClock) -> AsyncIterator[Database]:
    async with Database(sqlite_url(db_path), clock=clock) as database:
        yield database
