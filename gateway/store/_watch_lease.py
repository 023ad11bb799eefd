"""The poller lease of a watched campaign: which process polls it, under which epoch.

Why: replicas sharing a database must not each poll the upstream for one campaign
(twice the load, and two writers racing on one change log). One process holds the
lease (``watch_campaigns.lease_owner``) until ``lease_expires_at`` and renews it every
third of its duration; anyone may take an expired (or released) one. Every taking bumps
``lease_epoch``, the fencing token: ``ChangeLog.commit`` with a lease re-reads owner
and epoch under the campaign's row lock, in the transaction that writes the revision,
and refuses with :class:`LeaseLost` unless they are still the caller's. A poller that
paused past its lease (GC, a stalled network) therefore cannot write after its
successor started, whatever the clocks say.

Times are the callers' clock (epoch seconds): replicas' clocks are assumed within a
few seconds of each other, well under the lease (as for the idempotency lease). Clock
skew can only make two processes *poll* at once for a moment, never both commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ._schema import watch_campaigns

__all__ = ["NOTIFY_CHANNEL", "LeaseLost", "WatchLease", "check_lease", "lease_is_free", "release_lease",
           "renew_lease", "report_degraded", "take_lease"]


# PostgreSQL: every commit of a revision NOTIFYs this channel with "campaign_key:revision"
# (in its transaction: sent only if it commits), a release "campaign_key:released": the
# doorbell of the replicas that follow the campaign (``gateway.watch._doorbell``).
NOTIFY_CHANNEL = "revox_watch"


class LeaseLost(RuntimeError):
    """The caller's lease on a campaign is no longer the current one: stop polling."""

    def __init__(self, campaign_key: str, epoch: int) -> None:
        super().__init__(f"lost the poller lease of campaign {campaign_key} (epoch {epoch})")
        self.campaign_key = campaign_key
        self.epoch = epoch


@dataclass(frozen=True, slots=True)
class WatchLease:
    """A held lease: the process's ``owner`` id and the fencing ``epoch`` it got.
    ``took_over``: taking it replaced another owner whose lease had expired unreleased
    (that holder died or stalled), not a released, never-taken or own lease."""

    owner: str
    epoch: int
    took_over: bool = field(default=False, compare=False)


_wc = watch_campaigns.c


async def take_lease(
    conn: AsyncConnection, campaign_key: str, owner: str, *, ttl: float, now: float
) -> WatchLease | None:
    """Take (or keep) the lease; None while another owner's is unexpired. The campaign's
    row must be locked by the caller's transaction."""
    row = (await conn.execute(
        select(_wc.lease_owner, _wc.lease_epoch, _wc.lease_expires_at)
        .where(_wc.campaign_key == campaign_key)
    )).one()
    holder, epoch, expires = row[0], int(row[1]), row[2]
    alive = holder is not None and expires is not None and expires > now
    if alive and holder != owner:
        return None
    if not alive:
        epoch += 1  # a new tenure: whatever the previous one still tries is refused
    await conn.execute(
        update(watch_campaigns).where(_wc.campaign_key == campaign_key)
        .values(lease_owner=owner, lease_epoch=epoch, lease_expires_at=now + ttl)
    )
    # A release clears the owner, so an owner still named here never let go.
    return WatchLease(owner, epoch, took_over=holder is not None and holder != owner)


def _mine(campaign_key: str, lease: WatchLease) -> tuple[object, ...]:
    return (_wc.campaign_key == campaign_key, _wc.lease_owner == lease.owner,
            _wc.lease_epoch == lease.epoch)


async def renew_lease(
    conn: AsyncConnection, campaign_key: str, lease: WatchLease, *, ttl: float, now: float
) -> bool:
    """Extend the lease; False when it is no longer ours (taken after it expired)."""
    res = await conn.execute(
        update(watch_campaigns).where(*_mine(campaign_key, lease))  # type: ignore[arg-type]
        .values(lease_expires_at=now + ttl)
    )
    return int(res.rowcount) == 1


async def release_lease(
    conn: AsyncConnection, campaign_key: str, lease: WatchLease, *, notify: bool = False
) -> None:
    """Give the lease up now, so a successor need not wait for it to expire; ``notify``
    (PostgreSQL): say so on the doorbell channel (``campaign_key:released``)."""
    await conn.execute(
        update(watch_campaigns).where(*_mine(campaign_key, lease))  # type: ignore[arg-type]
        .values(lease_owner=None, lease_expires_at=None)
    )
    if notify:
        await conn.execute(select(func.pg_notify(NOTIFY_CHANNEL, f"{campaign_key}:released")))


async def check_lease(conn: AsyncConnection, campaign_key: str, lease: WatchLease) -> None:
    """:class:`LeaseLost` unless ``lease`` is the current one (row locked by the caller)."""
    row = (await conn.execute(
        select(_wc.lease_owner, _wc.lease_epoch).where(_wc.campaign_key == campaign_key)
    )).first()
    if row is None or row[0] != lease.owner or int(row[1]) != lease.epoch:
        raise LeaseLost(campaign_key, lease.epoch)


async def lease_is_free(conn: AsyncConnection, campaign_key: str, now: float) -> bool:
    """Whether nobody holds an unexpired lease (a read: followers ask it often)."""
    row = (await conn.execute(
        select(_wc.lease_owner, _wc.lease_expires_at).where(_wc.campaign_key == campaign_key)
    )).first()
    return row is None or row[0] is None or row[1] is None or row[1] <= now


async def report_degraded(
    conn: AsyncConnection, campaign_key: str, lease: WatchLease, detail: str | None
) -> bool:
    """Say what the holder's polls fail with (None: nothing) for the followers; only
    under the current lease, so a former holder cannot overwrite its successor's word.
    False when the lease is no longer ours."""
    res = await conn.execute(
        update(watch_campaigns).where(*_mine(campaign_key, lease))  # type: ignore[arg-type]
        .values(degraded_detail=detail)
    )
    return int(res.rowcount) == 1
