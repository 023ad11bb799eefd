"""Live replicas of one database announce which tenant secret they use; two must not differ.

Why: the tenant secret keys everything a replica shares with the others through the
database: tenant ids (so the idempotency rows: one request_id sent to two replicas
with different secrets would be two tenants, two creates), the cache partitions, and
the key that signs resume tokens. Replicas started with different
``GATEWAY_TENANT_SECRET`` values (or one with it and one without: the database's own)
would each work and silently disagree. So each running process keeps a row
``replica_secret:<id>`` in ``meta`` saying ``<fingerprint> <last seen>``, refreshed every
``every`` seconds and deleted when it stops; a process starting with another secret
while such a row is fresh (seen within three periods) is refused in one line.

Changing the secret on purpose stays possible: stop every replica (or wait three
periods after a kill -9), then start them all with the new one.

The fingerprint is an HMAC of a constant under the secret: it tells secrets apart
without revealing them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from types import TracebackType

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ._base import Engines, advisory_xact_lock, upsert
from ._errors import TenantSecretMismatch
from ._schema import meta

__all__ = ["SecretPresence", "fingerprint"]

_log = logging.getLogger("gateway.store")

_PREFIX = "replica_secret:"
_EVERY = 10.0  # seconds between refreshes of a running process's row
_FRESH_PERIODS = 3  # a row not refreshed for this many periods belongs to a dead process


def fingerprint(secret: bytes) -> str:
    return hmac.new(secret, b"revox-gateway tenant secret fingerprint",
                    hashlib.sha256).hexdigest()[:16]


class SecretPresence:
    """``async with SecretPresence(engines, secret, clock=...)``: refuses a start next to
    live replicas of another secret (:class:`TenantSecretMismatch`), then announces."""

    def __init__(self, engines: Engines, secret: bytes, *, clock: Callable[[], float],
                 every: float = _EVERY) -> None:
        self._e = engines
        self._mine = fingerprint(secret)
        self._clock = clock
        self._every = every
        self._key = _PREFIX + secrets.token_hex(8)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> SecretPresence:
        await self._check_and_announce()
        self._task = asyncio.create_task(self._refresh(), name="store-secret-presence")
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):  # a dead database: the row goes stale by itself
            async with self._e.write.begin() as conn:
                await conn.execute(delete(meta).where(meta.c.key == self._key))

    async def _check_and_announce(self) -> None:
        now = self._clock()
        oldest_live = now - _FRESH_PERIODS * self._every
        async with self._e.write.begin() as conn:
            # Two processes starting at once with different secrets: one waits, then sees.
            await advisory_xact_lock(conn, _PREFIX)
            rows = (await conn.execute(
                select(meta.c.key, meta.c.value).where(meta.c.key.startswith(_PREFIX))
            )).all()
            for key, value in rows:
                theirs, _, seen_text = str(value).partition(" ")
                seen = float(seen_text or 0)
                if seen < oldest_live:
                    await conn.execute(delete(meta).where(meta.c.key == key))  # a dead one's
                elif theirs != self._mine:
                    raise TenantSecretMismatch(
                        "another gateway on this database (seen "
                        f"{max(0.0, now - seen):.0f} s ago) uses a different tenant secret "
                        "(GATEWAY_TENANT_SECRET, or none: the database's own), so tenants, "
                        "idempotency, cache and resume tokens would not match across them; "
                        "give every replica the same one"
                    )
            await self._write(conn, now)

    async def _write(self, conn: AsyncConnection, now: float) -> None:
        stmt = upsert(self._e.dialect, meta).values(key=self._key, value=f"{self._mine} {now}")
        await conn.execute(stmt.on_conflict_do_update(index_elements=["key"],
                                                      set_={"value": stmt.excluded.value}))

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                async with self._e.write.begin() as conn:
                    await self._write(conn, self._clock())
            except Exception as exc:  # noqa: BLE001 - the database is down: retried next time
                _log.debug("secret presence not refreshed: %s", type(exc).__name__)
