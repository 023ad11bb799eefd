"""While the database does not answer: remember it, and let the cache step aside.

Why: the campaign cache is an optimisation, the database behind it is not the source
of truth (the upstream is). With PostgreSQL unreachable a cached read must become an
upstream read, not an error, and a cache write (after a create, a cancel, a delete)
must not turn an upstream call that succeeded into a failed rpc. And an unreachable
host may take the whole connect timeout to say so: once one call found the database
down, the next ones skip it for ``hold`` seconds instead of each waiting that long.

What the cache cannot do meanwhile is tracked nowhere: an eviction or a list
invalidation that failed leaves the row as it was, so for up to one TTL after the
database returns a cached read may serve what was cached before the outage.
"""

from __future__ import annotations

import builtins
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from ._base import Engines
from ._campaigns import CachedCampaign, CachedList, CampaignCache
from ._errors import StoreUnavailable, unreachable

__all__ = ["FailSoftCache", "Outage"]

_log = logging.getLogger("gateway.store")

_HOLD = 1.0  # seconds a found outage is believed before the database is tried again


class Outage:
    """Whether the database was found unreachable within the last ``hold`` seconds."""

    def __init__(self, *, hold: float = _HOLD, clock: Callable[[], float] = time.monotonic) -> None:
        self._hold = hold
        self._clock = clock
        self._until = 0.0
        self._down = False  # since the last failure, nothing answered (for the log lines)

    @property
    def down(self) -> bool:
        return self._until > self._clock()

    def failed(self, exc: BaseException) -> bool:
        """Record ``exc`` if it says the database is unreachable (returned)."""
        if not unreachable(exc):
            return False
        if isinstance(exc, StoreUnavailable):
            # What check() raised: the outage believed, not the database tried again.
            # Counting it would renew the hold on every refused call, and callers that
            # retry within the hold (every client honouring RetryInfo) would keep the
            # outage believed long after the database came back.
            return True
        if not self._down:
            _log.warning("database unreachable (%s): cached reads go to the upstream, "
                         "creates with a request_id are refused", type(exc).__name__)
        self._down = True
        self._until = self._clock() + self._hold
        return True

    def answered(self) -> None:
        if self._down:
            _log.warning("database answers again: cache and creates back to normal")
        self._down = False
        self._until = 0.0

    def check(self) -> None:
        """:class:`StoreUnavailable` while an outage is believed (a call would wait for
        nothing)."""
        if self.down:
            raise StoreUnavailable("the gateway's database does not answer")


class FailSoftCache(CampaignCache):
    """A :class:`CampaignCache` whose failures are misses (reads) or skipped (writes)."""

    def __init__(self, engines: Engines, *, memo_size: int, outage: Outage) -> None:
        super().__init__(engines, memo_size=memo_size)
        self._outage = outage

    def _failed(self, what: str, exc: Exception) -> None:
        if not self._outage.failed(exc):  # an outage is logged once, anything else each time
            _log.warning("cache %s failed, skipped: %s", what, type(exc).__name__)

    async def get(self, tenant: str, campaign_id: str) -> CachedCampaign | None:
        if self._outage.down:
            return None
        try:
            found = await super().get(tenant, campaign_id)
        except Exception as exc:  # noqa: BLE001 - a cache that cannot answer is a miss
            self._failed("read", exc)
            return None
        self._outage.answered()
        return found

    async def list(self, tenant: str) -> CachedList | None:
        if self._outage.down:
            return None
        try:
            found = await super().list(tenant)
        except Exception as exc:  # noqa: BLE001 - a cache that cannot answer is a miss
            self._failed("read", exc)
            return None
        self._outage.answered()
        return found

    async def put(
        self, tenant: str, campaign_id: str, payload: dict[str, Any], *, fetched_at: float
    ) -> None:
        await self._write(super().put(tenant, campaign_id, payload, fetched_at=fetched_at))

    async def put_many(
        self,
        tenant: str,
        campaigns: builtins.list[dict[str, Any]],  # ``list`` is the method here
        *,
        fetched_at: float,
        replace_all: bool,
    ) -> None:
        await self._write(
            super().put_many(tenant, campaigns, fetched_at=fetched_at, replace_all=replace_all)
        )

    async def evict(self, tenant: str, campaign_id: str) -> None:
        await self._write(super().evict(tenant, campaign_id))

    async def invalidate_list(self, tenant: str) -> None:
        await self._write(super().invalidate_list(tenant))

    async def _write(self, write: Coroutine[Any, Any, None]) -> None:
        if self._outage.down:
            write.close()  # never awaited: no "coroutine was never awaited" warning
            return
        try:
            await write
        except Exception as exc:  # noqa: BLE001 - the upstream call it follows succeeded
            self._failed("write", exc)
            return
        self._outage.answered()
