"""Ending an "outcome unknown" create after the gateway looked upstream for it.

A pending idempotency row nobody owns (``OutcomeUnknown``) is ended by a retry of the
caller, never silently: the service lists the caller's campaigns upstream and either
*settles* the row with the campaign it found, or *releases* it once the grace window
has passed with nothing found. Both are compare-and-set on the row as it was seen
(``state = 'pending'`` and its ``created_at``, which names the attempt): of two retries
racing (two tasks, or two replicas), exactly one settles or releases, and a row another
attempt re-created meanwhile is never touched.

``answered`` tells which campaign ids are already the answer of some request_id of the
tenant, so one campaign is never adopted as the outcome of two creates.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select, update

from ._base import Engines, dumps
from ._schema import idempotency

__all__ = ["answered", "release", "settle"]


async def settle(
    engines: Engines, tenant: str, request_id: str, pending_since: float,
    response: dict[str, Any],
) -> bool:
    """Complete the unknown attempt that started at ``pending_since`` with ``response``;
    False when the row is no longer that pending attempt."""
    t = idempotency.c
    async with engines.write.begin() as conn:
        result = await conn.execute(
            update(idempotency)
            .where(t.tenant == tenant, t.request_id == request_id, t.state == "pending",
                   t.created_at == pending_since)
            .values(state="done", response=dumps(response), updated_at=engines.clock(),
                    heartbeat_at=None)
        )
    return int(result.rowcount) == 1


async def release(engines: Engines, tenant: str, request_id: str, pending_since: float) -> bool:
    """Delete the unknown attempt that started at ``pending_since``; True when this call
    deleted it. The caller has checked it is old enough: on a step-proof clock
    (``_ages``), which the database's wall-clock ``created_at`` cannot be compared with."""
    t = idempotency.c
    async with engines.write.begin() as conn:
        result = await conn.execute(
            delete(idempotency).where(
                t.tenant == tenant, t.request_id == request_id, t.state == "pending",
                t.created_at == pending_since,
            )
        )
    return int(result.rowcount) == 1


async def answered(engines: Engines, tenant: str, campaign_ids: Iterable[str]) -> set[str]:
    """The ids among ``campaign_ids`` that a done request_id of ``tenant`` answered."""
    t = idempotency.c
    found: set[str] = set()
    async with engines.read.connect() as conn:
        for cid in campaign_ids:
            rows = await conn.execute(
                select(t.response).where(t.tenant == tenant, t.state == "done",
                                         t.response.contains(cid, autoescape=True))
            )
            for (text,) in rows:
                campaign = json.loads(text).get("campaign")
                if isinstance(campaign, dict) and campaign.get("id") == cid:
                    found.add(cid)
    return found
