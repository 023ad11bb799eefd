"""Campaign incarnations: one id, deleted and created again, is two campaigns.

Real upstreams recycle no ids, but they delete and recreate, restore from backups and
switch environments; a simulator restarted without its state once handed out old ids
again. What the gateway holds about a campaign (its watch change log, resume tokens,
idempotent-create answers) is bound to the incarnation it was learnt from, a fingerprint
of the id and the upstream's ``created_at``, which a recreated campaign cannot repeat.

``bind_incarnation`` records the incarnation of a watched campaign; when another one
turns up behind the same id it drops the old one's rows and changes and moves the
compaction boundary to the current revision, so no position of the old incarnation can
ever be read against the new one (revisions stay monotonic).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ._schema import watch_campaigns, watch_changes, watch_rows

__all__ = ["bind_incarnation", "incarnation_of", "incarnation_of_answer"]


def incarnation_of(campaign: Mapping[str, Any]) -> str:
    """A fingerprint of ``campaign``'s incarnation (its id and ``created_at``)."""
    key = f"{campaign.get('id')}\x00{campaign.get('created_at')}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def incarnation_of_answer(body: Mapping[str, Any]) -> str:
    """The incarnation of ``GET /campaigns/{id}``'s answer (``{"campaign": {...}}``, or the
    campaign itself from an upstream that does not wrap it)."""
    campaign = body.get("campaign")
    return incarnation_of(campaign if isinstance(campaign, Mapping) else body)


async def bind_incarnation(conn: AsyncConnection, campaign_key: str, incarnation: str) -> bool:
    """Record ``incarnation`` for a campaign of the log (inside a write transaction);
    True when it replaced another one, whose data is then gone."""
    wc = watch_campaigns.c
    row = (
        await conn.execute(
            select(wc.incarnation, wc.current_revision).where(wc.campaign_key == campaign_key)
        )
    ).first()
    if row is None or row[0] == incarnation:
        return False
    values: dict[str, Any] = {"incarnation": incarnation}
    if row[0] is not None:  # another incarnation: forget it entirely
        await conn.execute(delete(watch_rows).where(watch_rows.c.campaign_key == campaign_key))
        await conn.execute(
            delete(watch_changes).where(watch_changes.c.campaign_key == campaign_key)
        )
        values.update(compacted_revision=row[1], terminal=0, last_polled_at=None)
    await conn.execute(update(watch_campaigns).where(wc.campaign_key == campaign_key).values(values))
    return row[0] is not None
