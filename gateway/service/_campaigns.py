"""Campaign use cases: the upstream call, the cache around it, idempotent create.

Transport-agnostic: takes and returns upstream JSON objects, raises
``gateway.upstream`` and ``gateway.errors`` exceptions; the rpc layer renders.

Cache policy (per tenant, see ``gateway.store``):
- Get and List are served from the cache while younger than ``ttl``; otherwise
  read upstream and written through.
- When the upstream is unreachable, failing or rate limiting, a cached copy of
  any age is served with state ``stale`` (stale-if-error), unless the caller
  asked to skip the cache.
- Create and Cancel write the fresh campaign; Delete and a 404 evict it; every
  write invalidates the tenant's cached list.
- A Get read upstream is written through after the response, coalesced per
  campaign within ``write_delay`` (the newest observation is written once);
  until then Gets of that campaign see it from memory. A cached List may lag
  such a write by up to ``write_delay``, well inside the TTL it is served for.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .. import errors
from ..observability import CreateMetrics
from ..store import (
    CachedCampaign,
    Database,
    incarnation_of,
    is_fresh,
)
from ..upstream import (
    MalformedResponse,
    NotFound,
    RateLimited,
    RevoxClient,
    ServerError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ._caller import Caller
from ._create import DEFAULT_RECONCILE_GRACE, IdempotentCreate, campaign_of
from ._deadline import with_reserve
from ._rows import RowsPage, rows_window

__all__ = ["CacheState", "CampaignRead", "Campaigns", "RowsPage", "request_hash"]

CacheState = Literal["hit", "miss", "stale"]
_log = logging.getLogger("gateway.service")
# Failures after which a cached copy beats an error.
_STALE_OK = (UpstreamUnavailable, UpstreamTimeout, ServerError, RateLimited, MalformedResponse)
# How long a Get's write-through waits to absorb newer reads of the same
# campaign. Each SQLite write costs ~1–1.5 ms of CPU on the event loop that
# also serves requests; a campaign read back to back (dashboards with
# skip_cache, polling) is written once per window instead of once per read.
_WRITE_DELAY = 0.1


@dataclass(frozen=True, slots=True)
class CampaignRead:
    payload: dict[str, Any]  # the upstream's campaign object; read-only
    fetched_at: float
    state: CacheState


def request_hash(body: dict[str, Any]) -> str:
    """Fingerprint of a create body, to tell a retry from a different request."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Campaigns:
    def __init__(
        self,
        client: RevoxClient,
        db: Database,
        *,
        ttl: float = 5.0,
        clock: Callable[[], float] = time.time,
        write_delay: float = _WRITE_DELAY,
        creates: CreateMetrics | None = None,
        reconcile_grace: float = DEFAULT_RECONCILE_GRACE,
    ) -> None:
        self._client = client
        # Counts idempotent create outcomes (metrics); nothing without ``creates``.
        self._create_outcome: Callable[[str], None] = (
            (lambda outcome: None) if creates is None else creates.outcome
        )
        self._db = db
        self._ttl = ttl
        self._clock = clock
        # Write-through of reads happens beside the response, not before it:
        # the store keeps the newest observation whatever order writes land in.
        self._writes: set[asyncio.Task[None]] = set()
        self._callers: dict[str, Caller] = {}
        # Get results not yet written, newest per (tenant, campaign id).
        self._pending: dict[tuple[str, str], CachedCampaign] = {}
        self._write_delay = write_delay
        self._flush_timer: asyncio.TimerHandle | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self._create = IdempotentCreate(
            client, db, grace=reconcile_grace, outcome=self._create_outcome,
            remember=self._remember, replayed=self._replayed,
        )

    def _write_behind(self, write: Any) -> asyncio.Task[None]:
        task = asyncio.create_task(write)
        self._writes.add(task)
        task.add_done_callback(self._write_done)
        return task

    def _write_done(self, task: asyncio.Task[None]) -> None:
        self._writes.discard(task)
        if task is self._flush_task:  # also when cancelled before it ever ran
            self._flush_task = None
        if not task.cancelled() and task.exception() is not None:
            _log.warning("cache write failed: %r", task.exception())

    async def drain(self) -> None:
        """Write pending cache writes now and wait for them (before closing the database)."""
        while self._writes or self._pending:
            if self._pending and self._flush_task is None:
                if self._flush_timer is not None:
                    self._flush_timer.cancel()
                self._start_flush()
            await asyncio.gather(*self._writes, return_exceptions=True)

    def _put_later(
        self, tenant: str, campaign_id: str, payload: dict[str, Any], fetched_at: float
    ) -> None:
        key = (tenant, campaign_id)
        held = self._pending.get(key)
        if held is None or held.fetched_at <= fetched_at:
            self._pending[key] = CachedCampaign(payload=payload, fetched_at=fetched_at)
        if self._flush_timer is None and self._flush_task is None:
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        loop = asyncio.get_running_loop()
        self._flush_timer = loop.call_later(self._write_delay, self._start_flush)

    def _start_flush(self) -> None:
        self._flush_timer = None
        self._flush_task = self._write_behind(self._flush())

    async def _flush(self) -> None:
        try:
            for key, held in list(self._pending.items()):
                try:
                    await self._db.campaigns.put(*key, held.payload, fetched_at=held.fetched_at)
                except Exception as exc:  # noqa: BLE001 - a lost cache write only costs a later miss
                    _log.warning("cache write failed: %r", exc)
                if self._pending.get(key) is held:  # else a newer read arrived meanwhile
                    del self._pending[key]
        finally:
            self._flush_task = None
        if self._pending and self._flush_timer is None:  # newer reads came in meanwhile
            self._schedule_flush()

    def caller(self, api_key: str) -> Caller:
        # Memoized: the keyed hash showed up as the largest cost of a cache hit.
        caller = self._callers.get(api_key)
        if caller is None:
            if len(self._callers) >= 1024:
                self._callers.clear()
            caller = self._callers[api_key] = Caller(api_key, self._db.tenants.tenant_of(api_key))
        return caller

    # -- create -------------------------------------------------------------

    async def create(
        self, caller: Caller, body: dict[str, Any], *, request_id: str, timeout: float | None
    ) -> dict[str, Any]:
        """POST the campaign once per ``request_id``; a duplicate gets the first result
        (``_create``: unknown outcomes are reconciled on the caller's retry)."""
        if not request_id:
            return await self._post(caller, body, timeout)
        return await self._create(caller, body, request_hash(body), request_id, timeout)

    async def _replayed(
        self, caller: Caller, campaign: dict[str, Any], timeout: float | None
    ) -> dict[str, Any]:
        """A replay answers the campaign its request created (AIP-155), unless that id now
        names another campaign: acting on the answer (cancel, delete) would hit it."""
        cid = campaign.get("id")
        if not isinstance(cid, str):
            return campaign
        try:  # the recorded answer is the fallback: keep time to give it
            current = _campaign_of(await self._client.get_campaign(
                caller.api_key, cid, timeout=_budget(timeout, True)))
        except (NotFound, UpstreamError):
            return campaign  # deleted since (still the answer), or cannot tell now
        if incarnation_of(current) != incarnation_of(campaign):
            raise errors.CampaignRecreated(
                f"this request_id created campaign {cid}, which was deleted since; that id now "
                "names another campaign (created later). Use a new request_id to create again"
            )
        return campaign

    async def _post(self, caller: Caller, body: dict[str, Any], timeout: float | None) -> dict[str, Any]:
        campaign = _campaign_of(await self._client.create_campaign(caller.api_key, body, timeout=timeout))
        await self._remember(caller, campaign)
        return campaign

    async def _remember(self, caller: Caller, campaign: dict[str, Any]) -> None:
        cid = campaign.get("id")
        if isinstance(cid, str):
            self._pending.pop((caller.tenant, cid), None)  # older than this write
            await self._db.campaigns.put(caller.tenant, cid, campaign, fetched_at=self._clock())
        await self._db.campaigns.invalidate_list(caller.tenant)

    # -- read ---------------------------------------------------------------

    async def get(
        self, caller: Caller, campaign_id: str, *, skip_cache: bool, timeout: float | None
    ) -> CampaignRead:
        cached = None
        if not skip_cache:
            cached = await self._db.campaigns.get(caller.tenant, campaign_id)
            held = self._pending.get((caller.tenant, campaign_id))
            if held is not None and (cached is None or held.fetched_at > cached.fetched_at):
                cached = held  # read upstream, not written yet
        now = self._clock()
        if cached is not None and is_fresh(cached.fetched_at, self._ttl, now):
            return CampaignRead(cached.payload, cached.fetched_at, "hit")
        try:
            response = await self._client.get_campaign(
                caller.api_key, campaign_id, timeout=_budget(timeout, cached is not None)
            )
        except NotFound:
            self._pending.pop((caller.tenant, campaign_id), None)
            flushing = self._flush_task
            if flushing is not None:  # it may be writing this campaign: let it land first
                await asyncio.wait({flushing})
            await self._db.campaigns.evict(caller.tenant, campaign_id)
            raise
        except _STALE_OK as exc:
            if cached is None:
                raise
            _log.warning("serving campaign stale: %s", type(exc).__name__)
            return CampaignRead(cached.payload, cached.fetched_at, "stale")
        campaign = _campaign_of(response)
        fetched_at = self._clock()
        self._put_later(caller.tenant, campaign_id, campaign, fetched_at)
        return CampaignRead(campaign, fetched_at, "miss")

    async def list(
        self, caller: Caller, *, skip_cache: bool, timeout: float | None
    ) -> tuple[list[dict[str, Any]], CacheState]:
        cached = None if skip_cache else await self._db.campaigns.list(caller.tenant)
        if cached is not None and is_fresh(cached.fetched_at, self._ttl, self._clock()):
            return cached.campaigns, "hit"
        try:
            response = await self._client.list_campaigns(
                caller.api_key, timeout=_budget(timeout, cached is not None)
            )
        except _STALE_OK as exc:
            if cached is None:
                raise
            _log.warning("serving campaign list stale: %s", type(exc).__name__)
            return cached.campaigns, "stale"
        campaigns = response.get("campaigns")
        if campaigns is None:  # an empty listing spelled null or left out
            campaigns = []
        if not isinstance(campaigns, list) or not all(isinstance(c, dict) for c in campaigns):
            raise MalformedResponse("list response has no 'campaigns' array", status=200)
        with_ids = [c for c in campaigns if isinstance(c.get("id"), str)]
        self._write_behind(
            self._db.campaigns.put_many(caller.tenant, with_ids, fetched_at=self._clock(), replace_all=True)
        )
        return campaigns, "miss"

    # -- write --------------------------------------------------------------

    async def delete(self, caller: Caller, campaign_id: str, *, timeout: float | None) -> None:
        try:
            response = await self._client.delete_campaign(caller.api_key, campaign_id, timeout=timeout)
        finally:
            # Whatever happened, the cached copy may now be wrong.
            await asyncio.shield(self._forget(caller, campaign_id))
        if response.get("success") is False:
            raise errors.OperationRefused("the Revox API refused to delete the campaign")

    async def cancel(
        self, caller: Caller, campaign_id: str, *, timeout: float | None
    ) -> dict[str, Any]:
        try:
            response = await self._client.cancel_campaign(caller.api_key, campaign_id, timeout=timeout)
            if response.get("success") is False:
                raise errors.OperationRefused("the Revox API refused to cancel the campaign")
            refreshed = _campaign_of(
                await self._client.get_campaign(caller.api_key, campaign_id, timeout=timeout)
            )
        except BaseException:
            await asyncio.shield(self._forget(caller, campaign_id))
            raise
        await self._remember(caller, refreshed)
        return refreshed

    async def _forget(self, caller: Caller, campaign_id: str) -> None:
        await self.drain()  # a read's write-behind must not land after the eviction
        await self._db.campaigns.evict(caller.tenant, campaign_id)
        await self._db.campaigns.invalidate_list(caller.tenant)

    # -- rows ---------------------------------------------------------------

    async def rows(
        self, caller: Caller, campaign_id: str, filters: dict[str, Any],
        *, offset: int, size: int, timeout: float | None,
    ) -> RowsPage:
        """``size`` rows from ``offset`` (0 = the first row) matching ``filters``."""
        return await rows_window(
            self._client, caller.api_key, campaign_id, filters,
            offset=offset, size=size, timeout=timeout,
        )

    async def export(self, caller: Caller, campaign_id: str, *, timeout: float | None) -> dict[str, Any]:
        response = await self._client.export_rows(caller.api_key, campaign_id, timeout=timeout)
        if not isinstance(response.get("csv"), str):
            raise MalformedResponse("export response has no 'csv' string", status=200)
        return response


_campaign_of = campaign_of


def _budget(timeout: float | None, have_fallback: bool) -> float | None:
    """An upstream read's time: all of the caller's, less a reserve when a stale copy (or
    a recorded answer) could still answer after it."""
    return with_reserve(timeout) if have_fallback else timeout

