"""Tenant ids: keyed, stable across restarts, API keys never stored in clear."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.store import Database, TenantHasher, sqlite_url
from gateway.store._schema import metadata
from tests.store.conftest import NewUrl

API_KEY = "rvx_live_9f8e7d6c5b4a39281706f5e4d3c2b1a0"


def test_hmac_definition() -> None:
    secret = b"s" * 32
    expected = hmac.new(secret, API_KEY.encode(), hashlib.sha256).hexdigest()[:32]
    assert TenantHasher(secret).tenant_of(API_KEY) == expected
    assert TenantHasher(secret).tenant_of("other") != expected
    assert TenantHasher(b"t" * 32).tenant_of(API_KEY) != expected


def test_rejects_short_secret_and_empty_key() -> None:
    with pytest.raises(ValueError, match="^tenant secret must be at least 16 bytes$"):
        TenantHasher(b"short")
    with pytest.raises(ValueError, match="^tenant secret must be at least 16 bytes$"):
        TenantHasher("s" * 15)
    TenantHasher(b"s" * 16)  # exactly the minimum is enough
    with pytest.raises(ValueError, match="^api_key must be non-empty$"):
        TenantHasher(b"s" * 32).tenant_of("")
    assert repr(TenantHasher(b"s" * 32)) == "TenantHasher(<secret>)"


async def test_generated_secret_is_stable_across_restart(db_url: str) -> None:
    async with Database(db_url) as db:
        first = db.tenants.tenant_of(API_KEY)
    async with Database(db_url) as db:
        assert db.tenants.tenant_of(API_KEY) == first


async def test_different_databases_different_tenants(new_url: NewUrl) -> None:
    async with Database(await new_url()) as a, Database(await new_url()) as b:
        assert a.tenants.tenant_of(API_KEY) != b.tenants.tenant_of(API_KEY)


async def test_explicit_secret_overrides_stored(db_url: str) -> None:
    secret = "an-operator-provided-secret-value"
    async with Database(db_url, tenant_secret=secret) as db:
        assert db.tenants.tenant_of(API_KEY) == TenantHasher(secret).tenant_of(API_KEY)
    async with Database(db_url) as db:  # stored secret is a different one
        assert db.tenants.tenant_of(API_KEY) != TenantHasher(secret).tenant_of(API_KEY)


async def test_api_key_never_in_database_files(db_path: Path) -> None:
    async with Database(sqlite_url(db_path)) as db:
        tenant = db.tenants.tenant_of(API_KEY)
        await db.campaigns.put(tenant, "c1", {"id": "c1", "name": "n"}, fetched_at=1.0)
        await db.campaigns.put_many(tenant, [{"id": "c2"}], fetched_at=2.0, replace_all=False)
        await db.idempotency.begin(tenant, "req-1", "h")
        await db.idempotency.complete(tenant, "req-1", {"id": "c3"})
        await db.changelog.commit_poll(tenant + "/c1", [{"id": "r1"}], full_sweep=True, now=1.0)
        files = [p for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)]
        assert any(p.name.endswith("-wal") for p in files)  # the WAL is checked too
        for path in files:
            data = path.read_bytes()
            assert API_KEY.encode() not in data, path
            assert API_KEY.encode("utf-16-le") not in data, path
    for path in db_path.parent.iterdir():  # after close (checkpointed)
        assert API_KEY.encode() not in path.read_bytes(), path


async def test_api_key_never_stored(db: Database) -> None:
    """Every value of every table, on either backend, is free of the key."""
    tenant = db.tenants.tenant_of(API_KEY)
    await db.campaigns.put(tenant, "c1", {"id": "c1", "name": "n"}, fetched_at=1.0)
    await db.idempotency.begin(tenant, "req-1", "h")
    await db.idempotency.complete(tenant, "req-1", {"id": "c3"})
    await db.changelog.commit_poll(tenant + "/c1", [{"id": "r1"}], full_sweep=True, now=1.0)
    async with db.read_engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in await conn.execute(select(table)):
                assert API_KEY not in repr(tuple(row)), table.name
