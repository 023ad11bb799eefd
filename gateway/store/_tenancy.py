"""Tenant partitioning by a keyed hash of the caller's API key.

Every cached campaign and idempotency record is keyed by a *tenant id*, never by
the API key: ``tenant_of(key) = HMAC-SHA256(secret, key)`` as 32 hex chars
(128 bits, ample against collisions). A keyed hash, not a plain one, so that a
leaked database cannot be matched against a list of known keys without the
secret, and tenant ids cannot be precomputed.

Where the secret comes from (decided by ``Database``):

* passed in explicitly - the caller reads ``GATEWAY_TENANT_SECRET`` from the
  environment and passes it; this module never reads the environment. Keeping
  the secret outside the database file is the stronger setup.
* otherwise generated once (``secrets.token_bytes(32)``) and stored in the
  ``meta`` table, so tenant ids stay stable across restarts.

Changing the secret re-partitions every tenant: cached data and idempotency
records made under the old secret become unreachable (safe, just cold).

The API key itself is never stored, logged or included in any repr.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select

from ._base import Engines, upsert
from ._schema import meta

__all__ = ["TENANT_SECRET_META_KEY", "TenantHasher", "load_or_create_secret"]

TENANT_SECRET_META_KEY = "tenant_secret"
_MIN_SECRET_BYTES = 16
_TENANT_HEX_CHARS = 32


class TenantHasher:
    """Maps an API key to a stable, non-reversible tenant id."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes | str) -> None:
        key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if len(key) < _MIN_SECRET_BYTES:
            raise ValueError(f"tenant secret must be at least {_MIN_SECRET_BYTES} bytes")
        self._secret = key

    def tenant_of(self, api_key: str) -> str:
        if not api_key:
            # An empty key would map every unauthenticated caller to one tenant.
            raise ValueError("api_key must be non-empty")
        digest = hmac.new(self._secret, api_key.encode("utf-8"), hashlib.sha256).hexdigest()
        return digest[:_TENANT_HEX_CHARS]

    def __repr__(self) -> str:  # never show the secret
        return "TenantHasher(<secret>)"


async def load_or_create_secret(engines: Engines) -> bytes:
    """Return the database's tenant secret, creating it on first start.

    INSERT ... ON CONFLICT DO NOTHING then SELECT: if two processes start at
    once, both end up with the same (first written) secret.
    """
    candidate = secrets.token_bytes(32).hex()
    async with engines.write.begin() as conn:
        stmt = upsert(engines.dialect, meta).values(key=TENANT_SECRET_META_KEY, value=candidate)
        await conn.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))
        stored = await conn.scalar(select(meta.c.value).where(meta.c.key == TENANT_SECRET_META_KEY))
    assert stored is not None
    return bytes.fromhex(stored)
