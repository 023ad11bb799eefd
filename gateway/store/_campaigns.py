"""Write-through cache of upstream campaign objects, partitioned by tenant.

Rows are keyed by ``(tenant, campaign_id)`` so a tenant can never read another
tenant's copy of a campaign with the same id. Payloads are the upstream JSON
objects stored as text; freshness is decided by the caller from ``fetched_at``
and a TTL (:func:`is_fresh`), so nothing here expires by itself.

Hot path: ``get`` runs on every cached GetCampaign. It first consults a small
in-process LRU memo (dict lookup, ~1 µs); on a miss it does one primary-key
SELECT through Core (no ORM objects) and ``json.loads``. The memo is
invalidated by every write made *through this object*. Writes made by another
process sharing the database are not seen by the memo until the entry is
evicted by LRU pressure, so ``Database`` turns it off (``memo_size=0``) on
PostgreSQL, where replicas share the cache: a Delete through one replica is
then seen by a Get through another.

Concurrent writers (replicas on PostgreSQL): rows are written in ``campaign_id``
order, so two batches lock shared rows in the same order and never deadlock, and
replacing a tenant's full list holds a per-tenant advisory lock, so two
replacements do not interleave into a list that mixes both.

Payload dicts returned by ``get``/``list`` may be shared with the memo: treat
them as read-only (copy before mutating).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ._base import Engines, advisory_xact_lock, chunked, dumps, upsert
from ._schema import campaign_lists
from ._schema import campaigns as campaigns_t

__all__ = ["CachedCampaign", "CachedList", "CampaignCache", "is_fresh"]


def is_fresh(fetched_at: float, ttl: float, now: float) -> bool:
    """True while ``now`` is within ``ttl`` seconds after ``fetched_at``.

    A ``fetched_at`` in the future (clock stepped back) counts as fresh only up
    to ``ttl`` ahead, so a bad clock cannot pin an entry forever.
    """
    if ttl <= 0:
        return False
    age = now - fetched_at
    return -ttl < age < ttl


@dataclass(frozen=True, slots=True)
class CachedCampaign:
    payload: dict[str, Any]  # read-only: may be shared with the memo
    fetched_at: float


@dataclass(frozen=True, slots=True)
class CachedList:
    campaigns: list[dict[str, Any]]  # upstream order of the last full List
    fetched_at: float


def _campaign_id(payload: dict[str, Any]) -> str:
    try:
        return str(payload["id"])
    except KeyError:
        raise ValueError("campaign payload has no 'id'") from None


class CampaignCache:
    """Tenant-partitioned campaign cache (see module docstring)."""

    def __init__(self, engines: Engines, *, memo_size: int = 4096) -> None:
        self._e = engines
        self._memo: OrderedDict[tuple[str, str], CachedCampaign] = OrderedDict()
        self._memo_size = memo_size
        # Bumped by every write. A reader that started before a write must not
        # install what it read into the memo (it may be the pre-write value).
        self._generation = 0
        self._get_stmt = select(campaigns_t.c.payload, campaigns_t.c.fetched_at).where(
            campaigns_t.c.tenant == bindparam("t"), campaigns_t.c.campaign_id == bindparam("c")
        )

    # -- writes -------------------------------------------------------------

    def _invalidate(self, keys: Sequence[tuple[str, str]] | None = None) -> None:
        self._generation += 1
        if keys is None:
            self._memo.clear()
        else:
            for key in keys:
                self._memo.pop(key, None)

    def _upsert_stmt(self, *, with_position: bool) -> Any:
        stmt = upsert(self._e.dialect, campaigns_t)
        excluded = stmt.excluded
        values: dict[str, Any] = {"payload": excluded.payload, "fetched_at": excluded.fetched_at}
        if with_position:
            values["list_position"] = excluded.list_position
        # Never replace a newer observation with an older one: a slow Get that
        # started before an Update must not overwrite the Update's result.
        return stmt.on_conflict_do_update(
            index_elements=["tenant", "campaign_id"],
            set_=values,
            where=campaigns_t.c.fetched_at <= excluded.fetched_at,
        )

    async def put(
        self, tenant: str, campaign_id: str, payload: dict[str, Any], *, fetched_at: float
    ) -> None:
        """Upsert one campaign (keeps its position in the tenant's cached list)."""
        self._invalidate([(tenant, campaign_id)])
        row = {
            "tenant": tenant,
            "campaign_id": campaign_id,
            "payload": dumps(payload),
            "fetched_at": fetched_at,
            "list_position": None,
        }
        async with self._e.write.begin() as conn:
            await conn.execute(self._upsert_stmt(with_position=False), [row])
        self._invalidate([(tenant, campaign_id)])

    async def put_many(
        self,
        tenant: str,
        campaigns: list[dict[str, Any]],
        *,
        fetched_at: float,
        replace_all: bool,
    ) -> None:
        """Upsert a List result; with ``replace_all`` it is the tenant's full list.

        ``replace_all`` also records the list's ``fetched_at`` (what ``list``
        returns) and evicts the tenant's cached campaigns absent from it, in the
        same transaction so readers never see a half-replaced list.
        """
        ids = [_campaign_id(p) for p in campaigns]
        keys = [(tenant, cid) for cid in ids]
        self._invalidate(None if replace_all else keys)
        rows = [
            {
                "tenant": tenant,
                "campaign_id": cid,
                "payload": dumps(payload),
                "fetched_at": fetched_at,
                "list_position": pos if replace_all else None,
            }
            for pos, (cid, payload) in enumerate(zip(ids, campaigns, strict=True))
        ]
        # One row per id (the last occurrence wins, as its position does): PostgreSQL
        # refuses a multi-row upsert touching a row twice. Sorted: lock order.
        by_id = {cid: row for cid, row in zip(ids, rows, strict=True)}
        rows = [by_id[cid] for cid in sorted(by_id)]
        async with self._e.write.begin() as conn:
            if replace_all:
                await advisory_xact_lock(conn, f"campaign-list\x00{tenant}")
                await _clear_list(conn, tenant, keep=set(ids))
            if rows:
                await conn.execute(self._upsert_stmt(with_position=False), rows)
            if replace_all:
                await self._record_list(conn, tenant, ids, fetched_at)
        self._invalidate(None if replace_all else keys)

    async def _record_list(
        self, conn: AsyncConnection, tenant: str, ids: list[str], fetched_at: float
    ) -> None:
        # Positions are set separately: the upsert's "newer wins" guard
        # may skip a payload, but the row is still in this list.
        for part in chunked(sorted(enumerate(ids), key=lambda p: p[1]), 800):
            await conn.execute(
                update(campaigns_t)
                .where(
                    campaigns_t.c.tenant == tenant,
                    campaigns_t.c.campaign_id == bindparam("cid"),
                )
                .values(list_position=bindparam("pos")),
                [{"cid": cid, "pos": pos} for pos, cid in part],
            )
        stmt = upsert(self._e.dialect, campaign_lists).values(tenant=tenant, fetched_at=fetched_at)
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["tenant"], set_={"fetched_at": stmt.excluded.fetched_at}
            )
        )

    async def evict(self, tenant: str, campaign_id: str) -> None:
        """Drop one campaign (e.g. after Delete); it also leaves the cached list."""
        self._invalidate([(tenant, campaign_id)])
        async with self._e.write.begin() as conn:
            await conn.execute(
                delete(campaigns_t).where(
                    campaigns_t.c.tenant == tenant, campaigns_t.c.campaign_id == campaign_id
                )
            )
        self._invalidate([(tenant, campaign_id)])

    async def invalidate_list(self, tenant: str) -> None:
        """Forget that the tenant's full list is cached (call after a Create).

        A campaign created after the last List is not part of the cached list;
        dropping the list marker makes the next List go upstream.
        """
        async with self._e.write.begin() as conn:
            await conn.execute(delete(campaign_lists).where(campaign_lists.c.tenant == tenant))

    # -- reads --------------------------------------------------------------

    async def get(self, tenant: str, campaign_id: str) -> CachedCampaign | None:
        key = (tenant, campaign_id)
        hit = self._memo.get(key)
        if hit is not None:
            self._memo.move_to_end(key)
            return hit
        generation = self._generation
        async with self._e.read_autocommit.connect() as conn:
            row = (await conn.execute(self._get_stmt, {"t": tenant, "c": campaign_id})).first()
        if row is None:
            return None
        cached = CachedCampaign(payload=json.loads(row[0]), fetched_at=row[1])
        if self._memo_size > 0 and generation == self._generation:
            self._memo[key] = cached
            if len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
        return cached

    async def list(self, tenant: str) -> CachedList | None:
        """The tenant's last full List in upstream order, or None if never fetched.

        Payloads reflect later ``put``s; evicted campaigns are left out.
        """
        async with self._e.read.begin() as conn:
            fetched_at = await conn.scalar(
                select(campaign_lists.c.fetched_at).where(campaign_lists.c.tenant == tenant)
            )
            if fetched_at is None:
                return None
            rows = (
                (
                    await conn.execute(
                        select(campaigns_t.c.payload)
                        .where(
                            campaigns_t.c.tenant == tenant, campaigns_t.c.list_position.is_not(None)
                        )
                        .order_by(campaigns_t.c.list_position)
                    )
                )
                .scalars()
                .all()
            )
        return CachedList(campaigns=[json.loads(p) for p in rows], fetched_at=fetched_at)


async def _clear_list(conn: AsyncConnection, tenant: str, *, keep: set[str]) -> None:
    """Evict the tenant's cached campaigns absent from a new full list and clear the old
    positions, so a row kept (newer than this list) does not keep a stale index."""
    existing = (
        (await conn.execute(select(campaigns_t.c.campaign_id).where(campaigns_t.c.tenant == tenant)))
        .scalars()
        .all()
    )
    gone = sorted(cid for cid in existing if cid not in keep)
    for part in chunked(gone, 800):
        await conn.execute(
            delete(campaigns_t).where(
                campaigns_t.c.tenant == tenant, campaigns_t.c.campaign_id.in_(part)
            )
        )
    await conn.execute(
        update(campaigns_t).where(campaigns_t.c.tenant == tenant).values(list_position=None)
    )
